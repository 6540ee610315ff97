"""Inpainting with a noise mask (the "noise_mask" of a ComfyUI LATENT, set by core
Set Latent Noise Mask or VAE Encode (for Inpainting)).

Only where the mask is 1 is the latent regenerated. Elsewhere the model sees the
original latent noised to the current time, t * latent + (1 - t) * noise, and the
velocity there is the exact one of that straight path, latent - noise: the same
rule core ComfyUI applies to flow models, in the official t convention.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def latent_mask(mask: torch.Tensor, shape) -> torch.Tensor:
    """A mask [H, W], [B, H, W] or [B, 1, H, W] at pixel or latent resolution, as
    [B, 1, h, w] float in [0, 1] on the latent grid of `shape` [B, C, h, w]
    (bilinear, batch repeated as needed)."""
    if mask.dim() < 2 or (mask.dim() == 4 and mask.shape[1] != 1) or mask.dim() > 4:
        raise ValueError(f"noise mask of shape {list(mask.shape)}: expected [H, W], [B, H, W] "
                         "or [B, 1, H, W]")
    m = mask.float().reshape(-1, 1, mask.shape[-2], mask.shape[-1])
    if tuple(m.shape[-2:]) != tuple(shape[-2:]):
        m = F.interpolate(m, size=tuple(shape[-2:]), mode="bilinear")
    batch = shape[0]
    if m.shape[0] != batch:
        m = m.repeat(math.ceil(batch / m.shape[0]), 1, 1, 1)[:batch]
    return m.clamp(0.0, 1.0)


class MaskedVelocity:
    """Wraps v(x, t) so that only the masked region is generated."""

    def __init__(self, velocity, mask: torch.Tensor, latent: torch.Tensor, noise: torch.Tensor):
        self.velocity, self.mask, self.latent, self.noise = velocity, mask, latent, noise
        self.keep = 1.0 - mask

    def __call__(self, x: torch.Tensor, t: float) -> torch.Tensor:
        known = t * self.latent + (1.0 - t) * self.noise
        v = self.velocity(self.mask * x + self.keep * known, t)
        return self.mask * v + self.keep * (self.latent - self.noise)

    def finish(self, x: torch.Tensor) -> torch.Tensor:
        """The final latent: generated inside the mask, the original outside."""
        return self.mask * x + self.keep * self.latent
