"""Attention and 3-axis RoPE for the NewBie Next-DiT.

SDPA with `enable_gqa` (no copy of KV heads; q-head h reads kv-head h // n_rep)
is the default. flash-attn is used only when asked for (or `auto`), importable,
and the tensors are on CUDA; the choice is logged once per backend.
"""
from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)
ATTENTION_BACKENDS = ("auto", "sdpa", "flash_attn")
_announced: set[str] = set()

try:  # optional, never required
    from flash_attn import flash_attn_varlen_func as _flash_varlen
except Exception:  # noqa: BLE001 - any import failure means "not available"
    _flash_varlen = None


def _announce(name: str):
    if name not in _announced:
        _announced.add(name)
        log.info("NewBie attention: %s", name)


def rope_angles(positions: torch.Tensor, axes_dims: tuple[int, ...], theta: float) -> torch.Tensor:
    """Rotation angles [..., head_dim/2] in float32 for integer positions [..., n_axes].

    Each axis a owns a contiguous chunk of axes_dims[a] channels, rotated in
    interleaved pairs with frequencies theta^(-2j/d_a).
    """
    parts = []
    for axis, dim in enumerate(axes_dims):
        inv_freq = theta ** (-torch.arange(0, dim, 2, dtype=torch.float64,
                                           device=positions.device) / dim)
        parts.append(positions[..., axis].to(torch.float64)[..., None] * inv_freq)
    return torch.cat(parts, dim=-1).to(torch.float32)


def rope_rotation(angles: torch.Tensor) -> torch.Tensor:
    """Unit complex rotations e^(i angle), [B, L, 1, head_dim/2], to broadcast over heads."""
    return torch.polar(torch.ones_like(angles), angles).unsqueeze(2)


def rope_float32(x: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (x[2j], x[2j+1]) of a float32 x [B, L, H, D] as complex numbers.

    x must be a buffer the caller owns: it is rotated in place."""
    pairs = torch.view_as_complex(x.unflatten(-1, (-1, 2)))
    return torch.view_as_real(pairs.mul_(rotation)).flatten(-2)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
              key_mask: torch.Tensor | None, backend: str = "auto") -> torch.Tensor:
    """q [B,H,L,D], k/v [B,KV,L,D], key_mask [B,L] bool (True = real token) or None.

    Returns [B, L, H*D].
    """
    if backend not in ATTENTION_BACKENDS:
        raise ValueError(f"attention backend {backend!r}: expected one of {ATTENTION_BACKENDS}")
    if backend in ("auto", "flash_attn") and _flash_usable(q):
        _announce("flash_attn (varlen)")
        return _flash_attention(q, k, v, key_mask)
    if backend == "flash_attn":
        _announce("sdpa (flash_attn requested but not importable or not on CUDA)")
    else:
        _announce("sdpa")
    mask = key_mask[:, None, None, :] if key_mask is not None else None
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                         enable_gqa=q.shape[1] != k.shape[1])
    return out.transpose(1, 2).flatten(2)


def _flash_usable(q: torch.Tensor) -> bool:
    return (_flash_varlen is not None and q.is_cuda
            and q.dtype in (torch.float16, torch.bfloat16))


def _flash_attention(q, k, v, key_mask):
    b, h, length, d = q.shape
    if key_mask is None:
        key_mask = torch.ones(b, length, dtype=torch.bool, device=q.device)
    lengths = key_mask.sum(dim=1, dtype=torch.int32)
    cu = F.pad(lengths.cumsum(0, dtype=torch.int32), (1, 0))
    keep = key_mask.flatten()

    def pack(t):
        return t.transpose(1, 2).flatten(0, 1)[keep]

    out = _flash_varlen(pack(q), pack(k), pack(v), cu, cu, int(lengths.max()),
                        int(lengths.max()), causal=False)
    full = q.new_zeros(b * length, h, d)
    full[keep] = out
    return full.view(b, length, h * d)
