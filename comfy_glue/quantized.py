"""fp8 storage and quantized files through the host's own layer operations.

Storage: the choices core's UNETLoader offers; weights are kept in fp8 and cast layer by
layer to the compute dtype by ComfyUI's operations.

Quantized files: the library reads the per-layer formats (legacy scaled fp8, the
`.comfy_quant` entries, the `_quantization_metadata` header) and keeps the layers as
stored; here they are handed to the host as core's loader hands them: 0.33 converts them
with `convert_old_quants` and runs them through its mixed-precision operations; 0.3.75
takes a `scaled_fp8` model config or a per-layer config.
"""
from __future__ import annotations

import json
import logging
from functools import cache

import torch

import comfy.model_management as mm
import comfy.ops
import comfy.utils

from ..newbie.loading.quantized import QUANT_ENTRY, SCALED_FP8_MARKER

log = logging.getLogger(__name__)

# Load NewBie Model's storage choices beyond the library's dtypes (core UNETLoader's names).
FP8_STORAGE = {"fp8_e4m3fn": torch.float8_e4m3fn, "fp8_e4m3fn_fast": torch.float8_e4m3fn,
               "fp8_e5m2": torch.float8_e5m2}
FP8_MATMUL = "fp8_e4m3fn_fast"  # also asks for fp8 matrix products where the card has them
_CURRENT_FORMAT = hasattr(comfy.utils, "convert_old_quants")  # 0.33's quantization


def _quant_algos() -> dict:
    import comfy.quant_ops

    return dict(comfy.quant_ops.QUANT_ALGOS)


@cache
def host_formats() -> frozenset[str]:
    """The per-layer formats the host's mixed-precision operations run on this machine:
    each of its formats is quantized, loaded and run once on a small layer (fp8 on a
    CPU, for instance, runs dequantized)."""
    runs = set()
    for name in _quant_algos():
        try:
            _probe(name)
            runs.add(name)
        except Exception as err:  # any failure means the format cannot run here
            log.info("NewBie: quantized format %s does not run here (%s)", name, err)
    return frozenset(runs)


def _probe(name: str):
    algo = _quant_algos()[name]
    weight = torch.randn(256, 512, generator=torch.Generator().manual_seed(0))
    stored = _stored_layer(name, algo, weight)
    ops = _mixed_ops({"probe": {"format": name}}, torch.float32)
    layer = torch.nn.Module()
    layer.probe = ops.Linear(512, 256, bias=False)
    layer.load_state_dict({f"probe.{k}": v for k, v in stored.items()}, strict=False)
    x = torch.randn(2, 512, generator=torch.Generator().manual_seed(1))
    out, ref = layer.probe(x).float(), x @ weight.T
    err = ((out - ref).norm() / ref.norm()).item()
    if not err < 0.5:
        raise ValueError(f"relative error {err:.3f}")


def _stored_layer(name: str, algo: dict, weight: torch.Tensor) -> dict:
    """A layer's tensors as a file stores them, made by the host's quantizer."""
    import comfy.quant_ops

    if not _CURRENT_FORMAT:  # 0.3.75 knows only float8 weight + scalar scale
        scale = weight.abs().amax() / torch.finfo(algo["storage_t"]).max
        return {"weight": (weight / scale).to(algo["storage_t"]), "weight_scale": scale}
    ops = _mixed_ops({}, torch.float32)
    layer = ops.Linear(weight.shape[1], weight.shape[0], bias=False)
    layer.quant_format, layer.layout_type = name, algo["comfy_tensor_layout"]
    layer.weight = torch.nn.Parameter(comfy.quant_ops.QuantizedTensor.from_float(
        weight, algo["comfy_tensor_layout"], scale="recalculate"), requires_grad=False)
    return {k: v for k, v in layer.state_dict().items()}


def _mixed_ops(layers: dict, compute_dtype):
    if _CURRENT_FORMAT:
        return comfy.ops.mixed_precision_ops({"mixed_ops": True}, compute_dtype,
                                             disabled=_disabled_formats())
    return comfy.ops.mixed_precision_ops(layers, compute_dtype, full_precision_mm=True)


def _disabled_formats() -> set[str]:
    """Formats the host computes dequantized here (as its own pick_operations does)."""
    device = mm.get_torch_device()
    disabled = set()
    if not getattr(mm, "supports_nvfp4_compute", lambda d: False)(device):
        disabled.add("nvfp4")
    if not getattr(mm, "supports_mxfp8_compute", lambda d: False)(device):
        disabled.add("mxfp8")
    if not mm.supports_fp8_compute(device):
        disabled |= {"float8_e4m3fn", "float8_e5m2"}
    return disabled


def readable_formats() -> frozenset[str]:
    """What the library may hand over as stored: the host's formats, plus legacy
    scaled fp8 (both hosts load it with their own operations)."""
    return host_formats() | {"float8_e4m3fn"}


def configure(model_config, tensors: dict, formats: dict) -> dict:
    """Set the model config the way core's loader does for a quantized file, and give
    the tensors in the form the host's operations load. No-op without `formats`."""
    if not formats:
        return tensors
    legacy = SCALED_FP8_MARKER in tensors
    if _CURRENT_FORMAT:
        if not any(k.endswith(QUANT_ENTRY) for k in tensors):
            header = {} if legacy else {"_quantization_metadata": json.dumps({"layers": formats})}
            tensors, _ = comfy.utils.convert_old_quants(dict(tensors), "", metadata=header)
        model_config.quant_config = comfy.utils.detect_layer_quantization(tensors, "")
        return tensors
    tensors = {k: v for k, v in tensors.items() if not k.endswith(QUANT_ENTRY)}
    if legacy:
        marker = tensors.pop(SCALED_FP8_MARKER)
        model_config.scaled_fp8 = torch.float8_e4m3fn if marker.dtype == torch.float32 \
            else marker.dtype
        model_config.optimizations["fp8"] = marker.nelement() != 2
    else:
        model_config.layer_quant_config = formats
    return tensors


def storage_dtype(choice: str, path, device) -> torch.dtype:
    """The dtype Load NewBie Model stores weights in: an fp8 choice as named; `auto`
    keeps a plain fp8 file in its fp8 (that is why one has it), else the library's
    rule for the device."""
    from ..newbie.loading import resolve_dtype
    from ..newbie.loading.transformer import stored_weight_dtype

    if choice in FP8_STORAGE:
        return FP8_STORAGE[choice]
    if choice == "auto":
        stored = stored_weight_dtype(path)
        if stored in (torch.float8_e4m3fn, torch.float8_e5m2):
            return stored
    return resolve_dtype(choice, device, "transformer")


TEXT_ENCODER_FP8 = {"fp8_e4m3fn": "float8_e4m3fn"}  # Load NewBie Text Encoders' choice


def linears_in_fp8(module: torch.nn.Module, compute_dtype: torch.dtype,
                   fmt: str = "float8_e4m3fn") -> int:
    """Store every Linear inside `module` (transformers' layers) as the host's quantized
    Linear: fp8 weight with one scale per tensor (ComfyUI's per-layer float8 format),
    dequantized to the input's dtype as it runs. Embeddings and norms stay as they are.
    Returns how many layers changed."""
    algo = _quant_algos()[fmt]
    names = [n for n, m in module.named_modules() if type(m) is torch.nn.Linear]
    ops = _mixed_ops({"": {"format": fmt}}, compute_dtype)
    for name in names:
        parent_name, _, leaf = name.rpartition(".")
        parent = module.get_submodule(parent_name)
        old = getattr(parent, leaf)
        new = ops.Linear(old.in_features, old.out_features, bias=old.bias is not None)
        stored = _stored_layer(fmt, algo, old.weight.detach().float())
        if old.bias is not None:
            stored["bias"] = old.bias.detach().to(compute_dtype)
        new.load_state_dict(stored, strict=False)
        setattr(parent, leaf, new.requires_grad_(False))
    return len(names)
