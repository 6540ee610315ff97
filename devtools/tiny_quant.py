"""Quantized copies of a transformer's tensors, in the file formats ComfyUI writes,
made here by hand from their documented layout (so a slip in the pack's reader shows)."""
from __future__ import annotations

import json

import torch

FP8_MAX = {torch.float8_e4m3fn: 448.0, torch.float8_e5m2: 57344.0}


def quantizable(key: str, tensor: torch.Tensor) -> bool:
    """The block matrices (what ComfyUI's quantizers convert; embedders stay as they are)."""
    return key.endswith(".weight") and tensor.dim() == 2 and key.startswith(
        ("layers.", "noise_refiner.", "context_refiner."))


def _fp8(weight: torch.Tensor, dtype=torch.float8_e4m3fn):
    scale = weight.float().abs().amax() / FP8_MAX[dtype]
    return (weight.float() / scale).to(dtype), scale.reshape(())


def text_quantizable(key: str, tensor: torch.Tensor) -> bool:
    """A text encoder's matrices but its embeddings (as ComfyUI's scaled text files)."""
    return key.endswith(".weight") and tensor.dim() == 2 and "embed" not in key


def scaled_fp8(tensors: dict, scale_input: bool = True, which=quantizable) -> dict:
    """Legacy scaled fp8: a `scaled_fp8` marker, `scale_weight` (and `scale_input`)."""
    out = {"scaled_fp8": torch.empty(0, dtype=torch.float8_e4m3fn)}
    for key, value in tensors.items():
        if which(key, value):
            layer = key[:-len(".weight")]
            out[key], out[f"{layer}.scale_weight"] = _fp8(value)
            if scale_input:
                out[f"{layer}.scale_input"] = torch.ones((), dtype=torch.float32)
        else:
            out[key] = value
    return out


def comfy_quant(tensors: dict, fmt: str = "float8_e4m3fn", header: bool = False
                ) -> tuple[dict, dict | None]:
    """The per-layer format for fp8: `weight_scale` and a `.comfy_quant` JSON entry per
    layer, or (header=True) one `_quantization_metadata` header entry instead."""
    dtype = {"float8_e4m3fn": torch.float8_e4m3fn, "float8_e5m2": torch.float8_e5m2}[fmt]
    out, layers = {}, {}
    for key, value in tensors.items():
        if quantizable(key, value):
            layer = key[:-len(".weight")]
            out[key], out[f"{layer}.weight_scale"] = _fp8(value, dtype)
            layers[layer] = {"format": fmt}
            if not header:
                out[f"{layer}.comfy_quant"] = torch.tensor(
                    list(json.dumps({"format": fmt}).encode()), dtype=torch.uint8)
        else:
            out[key] = value
    meta = {"_quantization_metadata": json.dumps({"format_version": "1.0", "layers": layers})}
    return out, (meta if header else None)


def plain_fp8(tensors: dict, dtype=torch.float8_e4m3fn) -> dict:
    """Every matrix stored as fp8, no scales (the community repacks)."""
    return {k: v.to(dtype) if v.dim() == 2 else v for k, v in tensors.items()}


def without_scales(tensors: dict) -> dict:
    """The same file with its weight scales dropped: what a reader that ignores them
    would compute from."""
    return {k: v for k, v in tensors.items()
            if not k.endswith((".scale_weight", ".weight_scale"))}
