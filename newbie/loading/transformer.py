"""Loads the NewBie transformer from the files people have:

- the official HF folder (`transformer/diffusion_pytorch_model*.safetensors`,
  official NextDiT keys) or that file alone;
- ComfyUI's single file (`diffusion_models/NewBie-Image-Exp0.1-bf16.safetensors`,
  the same keys, optionally under `model.diffusion_model.`);
- the diffusers-port layout (`Lumina2Transformer2DModel` names), converted here.
"""
from __future__ import annotations

import logging
import re

import torch

from ..models.transformer import NewBieTransformer
from ..models.state_dict import StateDictMismatch
from ..models.transformer_config import ConfigInferenceError, infer_config
from .dtype import resolve_dtype
from .errors import CheckpointError
from .files import Checkpoint
from .layouts import describe
from .quantized import (QUANT_HEADER, SCALED_FP8_MARKER, QuantFormatError, dequantized,
                        is_quant_extra, layer_formats, logical_shapes)

log = logging.getLogger(__name__)
COMFY_PREFIX = "model.diffusion_model."

# diffusers-port name -> official name, applied in order (first match wins per rule).
_DIFFUSERS_RULES = [
    (r"^time_caption_embed\.caption_embedder\.", "cap_embedder."),
    (r"^time_caption_embed\.timestep_embedder\.linear_1\.", "t_embedder.mlp.0."),
    (r"^time_caption_embed\.timestep_embedder\.linear_2\.", "t_embedder.mlp.2."),
    (r"^time_caption_embed\.clip_text_pooled_proj\.", "clip_text_pooled_proj."),
    (r"^time_caption_embed\.time_text_embed\.(weight|bias)$", r"time_text_embed.1.\1"),
    (r"^time_caption_embed\.time_text_embed\.", "time_text_embed."),
    (r"\.attn\.to_out\.0\.", ".attention.out."),
    (r"\.attn\.norm_q\.", ".attention.q_norm."),
    (r"\.attn\.norm_k\.", ".attention.k_norm."),
    (r"\.feed_forward\.linear_([123])\.", r".feed_forward.w\1."),
    (r"\.norm1\.linear\.", ".adaLN_modulation.1."),
    (r"\.norm1\.norm\.", ".attention_norm1."),
    (r"\.norm1\.", ".attention_norm1."),
    (r"\.norm2\.", ".attention_norm2."),
    (r"^norm_out\.linear_1\.", "final_layer.adaLN_modulation.1."),
    (r"^norm_out\.linear_2\.", "final_layer.linear."),
]
_QKV = re.compile(r"^(.*)\.attn\.to_([qkv])\.weight$")


def official_name(diffusers_key: str) -> str:
    """The official name of a diffusers-port parameter (not for the split to_q/k/v)."""
    for pattern, repl in _DIFFUSERS_RULES:
        diffusers_key = re.sub(pattern, repl, diffusers_key)
    return diffusers_key


def diffusers_to_official(keys, read) -> dict[str, torch.Tensor]:
    """Official-key tensors from diffusers-port names; `read(key)` gives a tensor."""
    out: dict[str, torch.Tensor] = {}
    qkv: dict[str, dict[str, torch.Tensor]] = {}
    for key in keys:
        match = _QKV.match(key)
        if match:
            qkv.setdefault(match.group(1), {})[match.group(2)] = read(key)
            continue
        out[official_name(key)] = read(key)
    for block, parts in qkv.items():
        if set(parts) != {"q", "k", "v"}:
            raise ValueError(f"{block}.attn has only to_{'/'.join(sorted(parts))}")
        out[f"{block}.attention.qkv.weight"] = torch.cat([parts["q"], parts["k"], parts["v"]])
    return out


def official_tensors(ckpt: Checkpoint, dtype: torch.dtype, host_formats=None
                     ) -> tuple[dict, str, dict]:
    """Official-key tensors in `dtype`, the layout's description, and the per-layer
    quantization config ({} when not quantized). Quantized layers are dequantized, or,
    given the formats a host's own operations run (`host_formats`), left as stored with
    their scales; a layer in another format is refused by name."""
    keys = ckpt.keys()
    if "time_caption_embed.caption_embedder.1.weight" in ckpt:
        layout = "diffusers-port transformer"
        if any(is_quant_extra(k) for k in keys):
            raise CheckpointError(ckpt.path, "a quantized diffusers-port file is not read; use "
                                             "ComfyUI's single file.", layout=layout)
        try:
            return diffusers_to_official(keys, lambda k: ckpt.tensor(k, dtype)), layout, {}
        except ValueError as err:
            raise CheckpointError(ckpt.path, str(err), layout=layout) from None
    prefix = COMFY_PREFIX if any(k.startswith(COMFY_PREFIX) for k in keys) else ""
    if prefix + "cap_embedder.1.weight" not in ckpt:
        raise CheckpointError(ckpt.path, "this is not a NewBie transformer.",
                              layout=describe(keys), missing=["cap_embedder.1.weight",
                                                              "clip_text_pooled_proj.0.weight"])
    layout = "NewBie transformer, official keys" + (" (ComfyUI prefix)" if prefix else "")
    try:
        formats = layer_formats(keys, ckpt.metadata(), ckpt.tensor, prefix)
    except QuantFormatError as err:
        raise CheckpointError(ckpt.path, f"{err}.", layout=layout) from None
    def read(key, name):  # a quantized layer's tensors (not its bias) stay as stored
        layer, _, leaf = name.rpartition(".")
        as_stored = is_quant_extra(name) or (layer in formats and leaf != "bias")
        return ckpt.tensor(key) if as_stored else ckpt.tensor(key, dtype)

    tensors = {k[len(prefix):]: read(k, k[len(prefix):]) for k in keys if k.startswith(prefix)}
    if not formats:  # a scaled-fp8 marker with no scaled layer: plain fp8
        tensors.pop(SCALED_FP8_MARKER, None)
        tensors = {k: v for k, v in tensors.items()  # activation scales only; a weight
                   if not k.endswith((".scale_input", ".input_scale"))}  # scale stays: refused
    if formats:
        layout += f", quantized ({_format_summary(formats)})"
    if formats and host_formats is not None:
        other = sorted({str(c.get("format")) for c in formats.values()} - set(host_formats))
        if other:
            raise CheckpointError(ckpt.path, f"quantized as {', '.join(other)}, which ComfyUI's "
                                  "operations cannot run on this machine (they run: "
                                  f"{', '.join(sorted(host_formats)) or 'none'}).", layout=layout)
    elif formats:
        try:
            tensors = dequantized(tensors, formats, dtype)
        except QuantFormatError as err:
            raise CheckpointError(ckpt.path, f"{err}.", layout=layout) from None
    return tensors, layout, formats


def _format_summary(formats: dict) -> str:
    counts: dict[str, int] = {}
    for conf in formats.values():
        counts[str(conf.get("format"))] = counts.get(str(conf.get("format")), 0) + 1
    return ", ".join(f"{n} layers {fmt}" for fmt, n in sorted(counts.items()))


def stored_weight_dtype(path) -> torch.dtype | None:
    """The dtype most of a transformer file's matrices are stored in (None if unknown or
    quantized): tells a plain fp8 file from a bf16 one before loading."""
    ckpt = Checkpoint.open(path, subfolder="transformer")
    if QUANT_HEADER in ckpt.metadata() or any(is_quant_extra(k) for k in ckpt.keys()):
        return None
    sizes: dict[torch.dtype, int] = {}
    for key, shape in ckpt.shapes.items():
        if len(shape) == 2 and ckpt.dtypes.get(key) is not None:
            sizes[ckpt.dtypes[key]] = sizes.get(ckpt.dtypes[key], 0) + shape[0] * shape[1]
    return max(sizes, key=sizes.get) if sizes else None


def load_transformer(path, dtype="auto", device="cpu", attention: str = "auto", build=None,
                     host_formats=None) -> NewBieTransformer:
    """A NewBieTransformer from a file or an HF/diffusers folder, in `dtype`. `build`
    (tensors, config, dtype, formats) -> model replaces `NewBieTransformer.from_state_dict`,
    for a host that builds the model inside its own wrapper; given `host_formats` it gets
    quantized layers as stored, with their scales, and their configs in `formats`."""
    target = resolve_dtype(dtype, device, "transformer")
    ckpt = Checkpoint.open(path, subfolder="transformer")
    tensors, layout, formats = official_tensors(ckpt, target, host_formats)
    if "clip_text_pooled_proj.0.weight" not in tensors:
        raise CheckpointError(ckpt.path, "no pooled-CLIP path (clip_text_pooled_proj): this is "
                                         "not NewBie-image-Exp0.1; load it with ComfyUI's core "
                                         "nodes instead.", layout=describe(ckpt.keys()),
                              missing=["clip_text_pooled_proj.0.weight"])
    try:
        config = infer_config(logical_shapes(tensors, formats))
        if build is None:
            model = NewBieTransformer.from_state_dict(tensors, dtype=target, config=config)
        else:
            model = build(tensors, dtype=target, config=config, formats=formats)
    except ConfigInferenceError as err:
        raise CheckpointError(ckpt.path, f"cannot read the model size ({err}).",
                              layout=layout) from None
    except QuantFormatError as err:
        raise CheckpointError(ckpt.path, f"{err}.", layout=layout) from None
    except StateDictMismatch as err:
        raise CheckpointError(ckpt.path, f"keys or shapes do not fit ({err}).", layout=layout,
                              missing=err.missing, unexpected=err.unexpected) from None
    model.set_attention_backend(attention)
    log.info("NewBie transformer: %s, %d layers, dim %d, %s, from %s", layout,
             config["n_layers"], config["dim"], target, ckpt.path)
    return model.to(device)
