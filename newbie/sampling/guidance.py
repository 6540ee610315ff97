"""Classifier-free guidance with the official NewBie semantics, the one implementation
both the ComfyUI guider and the standalone sampler call:

- cond and uncond go through the model in one batched forward;
- truncation: CFG while t < cfg_trunc (t = 0 is noise), cond-only forwards after;
- renorm r > 0: per sample, if |v| >= r |v_cond| then v is scaled to r |v_cond|.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from ..errors import NewBieError


@dataclass
class Conditioning:
    cap_feats: torch.Tensor   # [B or 1, L, D]
    cap_mask: torch.Tensor    # [B or 1, L] bool, True on real tokens
    clip_pooled: torch.Tensor | None  # [B or 1, Dclip]

    @classmethod
    def of(cls, value) -> "Conditioning":
        if isinstance(value, cls):
            return value
        if isinstance(value, (tuple, list)):
            feats, mask, pooled = value
        else:
            feats, mask, pooled = value.cap_feats, value.cap_mask, value.clip_pooled
        if mask is None:
            mask = torch.ones(feats.shape[:2], dtype=torch.bool, device=feats.device)
        return cls(feats, mask.bool(), pooled)

    def expand(self, batch: int) -> "Conditioning":
        if self.cap_feats.shape[0] == batch:
            return self
        if self.cap_feats.shape[0] != 1:
            raise ValueError(f"conditioning batch {self.cap_feats.shape[0]} does not match "
                             f"latent batch {batch}")
        pooled = None if self.clip_pooled is None else self.clip_pooled.expand(batch, -1)
        return Conditioning(self.cap_feats.expand(batch, -1, -1),
                            self.cap_mask.expand(batch, -1), pooled)


def join(a: Conditioning, b: Conditioning) -> Conditioning:
    """[a; b] along the batch, right-padding the shorter caption (masked)."""
    length = max(a.cap_feats.shape[1], b.cap_feats.shape[1])

    def pad(c: Conditioning):
        extra = length - c.cap_feats.shape[1]
        return F.pad(c.cap_feats, (0, 0, 0, extra)), F.pad(c.cap_mask, (0, extra), value=False)

    (fa, ma), (fb, mb) = pad(a), pad(b)
    pooled = None if a.clip_pooled is None or b.clip_pooled is None else \
        torch.cat([a.clip_pooled, b.clip_pooled])
    return Conditioning(torch.cat([fa, fb]), torch.cat([ma, mb]), pooled)


class NonFiniteError(NewBieError, FloatingPointError):
    """NaN or Inf in the sampler; the message names where and what to change."""


def float16_hint(dtype: torch.dtype) -> str:
    """Advice that helps only when the compute dtype is float16."""
    return ("; float16 overflows where bfloat16 and float32 do not: compute in one of those"
            if dtype == torch.float16 else "")


def guidance_scale(t: float, cfg: float, cfg_trunc: float | None) -> float:
    """The CFG scale at time t (0 = noise): `cfg` while t < cfg_trunc, then 1 (the
    positive prompt alone). cfg_trunc None or >= 1 keeps CFG on at every step."""
    if cfg_trunc is None or cfg_trunc >= 1.0 or t < cfg_trunc:
        return cfg
    return 1.0


def guided(cond: torch.Tensor, uncond: torch.Tensor, cfg: float, renorm: float) -> torch.Tensor:
    """The official CFG rule: uncond + cfg (cond - uncond), and with renorm > 0 each
    sample's result capped at renorm times the norm of its own cond prediction."""
    out = uncond + cfg * (cond - uncond)
    if renorm > 0:
        dims = tuple(range(1, out.dim()))
        limit = renorm * torch.linalg.vector_norm(cond, dim=dims, keepdim=True)
        norm = torch.linalg.vector_norm(out, dim=dims, keepdim=True)
        out = torch.where(norm >= limit, out * (limit / norm.clamp_min(1e-12)), out)
    return out


class GuidedVelocity:
    """v(x, t) for the solvers: model forwards plus the official CFG."""

    def __init__(self, model, cond, uncond, cfg: float, cfg_trunc: float | None,
                 renorm: float, dtype: torch.dtype, batch: int,
                 device: torch.device | None = None):
        if cfg < 0:
            raise ValueError(f"cfg must be >= 0, got {cfg}")
        if renorm < 0:
            raise ValueError(f"renorm must be >= 0 (0 = off), got {renorm}")
        self.model, self.cfg, self.cfg_trunc, self.renorm = model, cfg, cfg_trunc, renorm
        self.dtype = dtype
        self.device = device or next(model.parameters()).device
        self.cond = self._to(Conditioning.of(cond).expand(batch))
        self.uncond = None if uncond is None else self._to(Conditioning.of(uncond).expand(batch))
        self.both = None if self.uncond is None else join(self.cond, self.uncond)
        self.forwards = 0  # model forwards, counted per sample batch

    def _to(self, c: Conditioning) -> Conditioning:
        pooled = None if c.clip_pooled is None else c.clip_pooled.to(self.device, self.dtype)
        return Conditioning(c.cap_feats.to(self.device, self.dtype), c.cap_mask.to(self.device),
                            pooled)

    def _forward(self, x: torch.Tensor, t: float, c: Conditioning) -> torch.Tensor:
        self.forwards += 1
        tt = torch.full((x.shape[0],), float(t), device=x.device)
        return self.model(x.to(self.dtype), tt, c.cap_feats, c.cap_mask, c.clip_pooled).float()

    def __call__(self, x: torch.Tensor, t: float) -> torch.Tensor:
        scale = guidance_scale(t, self.cfg, self.cfg_trunc) if self.uncond is not None else 1.0
        if scale == 1.0:
            return self._forward(x, t, self.cond)
        v_cond, v_uncond = self._forward(torch.cat([x, x]), t, self.both).chunk(2)
        return guided(v_cond, v_uncond, scale, self.renorm)
