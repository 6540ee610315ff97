"""dtype policy: per component, `auto` picks what the device runs well."""
from __future__ import annotations

import torch

DTYPE_CHOICES = ("auto", "bfloat16", "float16", "float32")
_BY_NAME = {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float16": torch.float16,
            "fp16": torch.float16, "float32": torch.float32, "fp32": torch.float32}


def _bf16_ok(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return device.type in ("cpu", "mps", "xpu")


def resolve_dtype(choice, device="cpu", component: str = "transformer") -> torch.dtype:
    """`auto`: bf16 where supported, fp16 on CUDA without bf16; the VAE runs fp32 on CPU."""
    if isinstance(choice, torch.dtype):
        return choice
    if choice is None:
        choice = "auto"
    device = torch.device(device)
    if choice != "auto":
        try:
            return _BY_NAME[str(choice).lower()]
        except KeyError:
            raise ValueError(f"dtype {choice!r}: expected one of {DTYPE_CHOICES}") from None
    if component == "vae" and device.type == "cpu":
        return torch.float32
    if _bf16_ok(device):
        return torch.bfloat16
    return torch.float16 if device.type == "cuda" else torch.float32
