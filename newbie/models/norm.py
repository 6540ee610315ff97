"""RMSNorm for the Next-DiT, with the block's modulation folded into the weight.

In bfloat16/float16 the statistics, the weight and any scale are applied in one
float32 buffer that is rounded once; torch's CPU `rms_norm` for these dtypes
decomposes into several float32 temporaries and measured ~5x slower. float32
inputs use the fused kernel.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _eps(eps: float | None) -> float:
    return torch.finfo(torch.float32).eps if eps is None else eps


def normalized_float32(x: torch.Tensor, weight: torch.Tensor, eps: float | None,
                       scale: torch.Tensor | None = None) -> torch.Tensor:
    """x * rsqrt(mean(x^2) + eps) * weight (* scale) as a new float32 tensor."""
    gain = weight.float() if scale is None else weight.float() * scale.float()
    if x.dtype == torch.float32:
        if scale is None:  # the fused kernel applies the weight itself
            return F.rms_norm(x, (x.shape[-1],), gain, _eps(eps))
        return F.rms_norm(x, (x.shape[-1],), None, _eps(eps)).mul_(gain)
    xf = x.float()  # a new buffer, so the in-place steps below touch nothing else
    mean_sq = torch.linalg.vector_norm(xf, dim=-1, keepdim=True).square_().div_(x.shape[-1])
    return xf.mul_(mean_sq.add_(_eps(eps)).rsqrt_()).mul_(gain)


class RMSNorm(nn.Module):
    """eps None means float32's machine epsilon (ComfyUI's q/k norm). A host that keeps
    weights elsewhere (streamed, cast per call) overrides `normalized_float32`."""

    def __init__(self, dim: int, eps: float | None, device=None, dtype=None):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim, device=device, dtype=dtype))
        self.bias = None

    def normalized_float32(self, x: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
        return normalized_float32(x, self.weight, self.eps, scale)

    def forward(self, x: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
        return self.normalized_float32(x, scale).to(x.dtype)
