"""Linear layers that stay fast in bfloat16 / float16 on CPUs without half-precision
matrix instructions.

There torch's half GEMM is emulated and measured about 5x slower than float32 (a
1280x2304 by 2304x9216 product: 1.30 s in bf16, 0.24 s through float32 on an AVX2
CPU). Upcasting is exact, the half kernels accumulate in float32 as well, and the
result is rounded to the input's dtype once, so only the speed changes.
"""
from __future__ import annotations

from functools import cache

import torch
import torch.nn.functional as F
from torch import nn

_HALF = (torch.bfloat16, torch.float16)


@cache
def cpu_has_half_gemm(dtype: torch.dtype) -> bool:
    try:
        if dtype == torch.bfloat16:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        return bool(torch.ops.mkldnn._is_mkldnn_fp16_supported())
    except (AttributeError, RuntimeError):
        return False


def emulated_half(x: torch.Tensor) -> bool:
    """Whether x's half-precision GEMM would be emulated (CPU without the instructions)."""
    return x.dtype in _HALF and x.device.type == "cpu" and not cpu_has_half_gemm(x.dtype)


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """F.linear, computed from float32 operands where half GEMM is emulated."""
    if emulated_half(x):
        return F.linear(x.float(), weight.float(), None if bias is None else bias.float()).to(x.dtype)
    return F.linear(x, weight, bias)


class Linear(nn.Linear):
    """nn.Linear (same parameters and keys) through `linear`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)
