"""Quantized transformer files, in the formats ComfyUI writes:

- legacy scaled fp8: a `scaled_fp8` marker tensor, float8 weights with a per-layer
  `scale_weight` (and an optional `scale_input`);
- the per-layer format: `<layer>.comfy_quant` JSON entries (or one
  `_quantization_metadata` header entry) naming each layer's format, with
  `weight_scale` (`weight_scale_2` for nvfp4) and an optional `input_scale`;
- plain fp8: float8 weights with no scales (read like any other dtype).

A host with quantized layer operations takes such tensors as stored. Without one the
library multiplies the weight by its scale (the formats whose scale is one number per
tensor or per row) and refuses the others by name. A quantized weight is never read
without its scale.
"""
from __future__ import annotations

import json

import torch

SCALED_FP8_MARKER = "scaled_fp8"
QUANT_ENTRY = ".comfy_quant"
QUANT_HEADER = "_quantization_metadata"
# Tensors that belong to a quantized layer besides its weight and bias.
EXTRA_SUFFIXES = (".scale_weight", ".scale_input", ".weight_scale", ".weight_scale_2",
                  ".input_scale", ".pre_quant_scale", QUANT_ENTRY)
# Formats whose dequantized weight is weight * scale, with scale one number or one per row.
SCALAR_SCALED = {"float8_e4m3fn", "float8_e5m2", "int8_tensorwise"}


class QuantFormatError(ValueError):
    """A quantized layer the reader at hand cannot use (unknown format, missing scale)."""


def layer_formats(keys, metadata: dict, read, prefix: str = "") -> dict[str, dict]:
    """layer name (without `prefix`) -> its quantization config ({"format": ...}); empty
    for a file that is not quantized. `read(key)` gives a stored tensor."""
    keys = list(keys)

    def strip(name):
        return name[len(prefix):] if prefix and name.startswith(prefix) else name

    if QUANT_HEADER in (metadata or {}):
        try:
            layers = json.loads(metadata[QUANT_HEADER])["layers"]
        except (ValueError, KeyError, TypeError):
            raise QuantFormatError(f"the {QUANT_HEADER} header entry is not valid JSON with "
                                   "a 'layers' map") from None
        return {strip(name): dict(conf) for name, conf in layers.items()}
    entries = [k for k in keys if k.endswith(QUANT_ENTRY)]
    if entries:
        return {strip(k[:-len(QUANT_ENTRY)]): _entry(k, read(k)) for k in entries}
    if prefix + SCALED_FP8_MARKER in keys or SCALED_FP8_MARKER in keys:
        marker = read(prefix + SCALED_FP8_MARKER if prefix + SCALED_FP8_MARKER in keys
                      else SCALED_FP8_MARKER)
        # ComfyUI's marker: its dtype is the weights' (float32 means e4m3fn).
        fmt = "float8_e5m2" if marker.dtype == torch.float8_e5m2 else "float8_e4m3fn"
        return {strip(k[:-len(".scale_weight")]): {"format": fmt}
                for k in keys if k.endswith(".scale_weight")}
    return {}


def _entry(key: str, stored: torch.Tensor) -> dict:
    try:
        conf = json.loads(stored.numpy().tobytes())
    except ValueError:
        raise QuantFormatError(f"{key} is not a JSON layer config") from None
    if not isinstance(conf, dict) or "format" not in conf:
        raise QuantFormatError(f"{key} names no format: {conf!r}")
    return conf


def is_quant_extra(key: str) -> bool:
    return key == SCALED_FP8_MARKER or key.endswith(EXTRA_SUFFIXES)


def dequantized(tensors: dict, formats: dict[str, dict], dtype: torch.dtype) -> dict:
    """The tensors with each quantized layer's weight as weight * scale in `dtype`, and
    the scales, input scales and layer configs dropped."""
    out = dict(tensors)
    for layer, conf in formats.items():
        fmt = conf.get("format")
        if fmt not in SCALAR_SCALED or conf.get("convrot") or \
                (conf.get("params") or {}).get("convrot"):
            raise QuantFormatError(f"layer {layer} is quantized as {fmt!r}, which only "
                                   "ComfyUI's quantized operations run; load it in ComfyUI "
                                   f"(readable here: {', '.join(sorted(SCALAR_SCALED))})")
        weight = out.get(f"{layer}.weight")
        scale = out.get(f"{layer}.weight_scale", out.get(f"{layer}.scale_weight"))
        if weight is None or scale is None:
            raise QuantFormatError(f"layer {layer} ({fmt}) has no "
                                   f"{'weight' if weight is None else 'weight scale'}")
        scale = scale.float()
        if scale.numel() == weight.shape[0] and scale.numel() > 1:
            scale = scale.reshape(-1, *([1] * (weight.dim() - 1)))
        out[f"{layer}.weight"] = (weight.float() * scale).to(dtype)
    return {k: v for k, v in out.items() if not is_quant_extra(k)}


# Formats that pack two 4-bit values a byte: the stored matrix has half the columns.
PACKED_4BIT = {"nvfp4", "convrot_w4a4", "asym_w4a8_int8"}


def logical_shapes(tensors: dict, formats: dict[str, dict]) -> dict[str, tuple[int, ...]]:
    """Each tensor's shape as the model declares it (a packed weight's full width)."""
    shapes = {k: tuple(v.shape) for k, v in tensors.items()}
    for layer, conf in formats.items():
        key = f"{layer}.weight"
        if conf.get("format") in PACKED_4BIT and key in shapes and len(shapes[key]) == 2:
            shapes[key] = (shapes[key][0], shapes[key][1] * 2)
    return shapes


def read_dequantized(ckpt, key: str, dtype: torch.dtype) -> torch.Tensor:
    """`ckpt.tensor(key, dtype)`, with a scaled layer's weight (ComfyUI's scaled-fp8 or
    per-layer file of a text encoder) multiplied by its scale first."""
    layer = key[:-len(".weight")] if key.endswith(".weight") else None
    scale_key = next((f"{layer}{s}" for s in (".weight_scale", ".scale_weight")
                      if layer and f"{layer}{s}" in ckpt), None)
    if scale_key is None:
        return ckpt.tensor(key, dtype)
    conf = _entry(layer + QUANT_ENTRY, ckpt.tensor(layer + QUANT_ENTRY)) \
        if layer + QUANT_ENTRY in ckpt else {"format": "float8_e4m3fn"}
    try:
        return dequantized({key: ckpt.tensor(key), scale_key: ckpt.tensor(scale_key)},
                           {layer: conf}, dtype)[key]
    except QuantFormatError as err:
        from .errors import CheckpointError

        raise CheckpointError(ckpt.path, f"{err}.") from None
