"""The FLUX.1 VAE on diffusers' AutoencoderKL, speaking ComfyUI's types.

Images are [B, H, W, 3] floats in 0..1 (ComfyUI IMAGE); latents are
[B, 16, H/8, W/8] in raw VAE space (ComfyUI LATENT, what core VAEDecode takes).
The sampler moves to the model's space with `to_model_space`.
"""
from __future__ import annotations

import torch
from diffusers import AutoencoderKL
from torch import nn

SCALE = 0.3611
SHIFT = 0.1159


def flux_vae_config(block_out_channels=(128, 256, 512, 512), layers_per_block=2,
                    latent_channels=16) -> dict:
    levels = len(block_out_channels)
    return {"in_channels": 3, "out_channels": 3, "latent_channels": latent_channels,
            "block_out_channels": list(block_out_channels), "layers_per_block": layers_per_block,
            "down_block_types": ["DownEncoderBlock2D"] * levels,
            "up_block_types": ["UpDecoderBlock2D"] * levels, "norm_num_groups": 32,
            "act_fn": "silu", "mid_block_add_attention": True, "use_quant_conv": False,
            "use_post_quant_conv": False, "force_upcast": True, "sample_size": 1024,
            "scaling_factor": SCALE, "shift_factor": SHIFT}


def to_model_space(latent: torch.Tensor) -> torch.Tensor:
    """Raw VAE latent -> the space the transformer was trained in."""
    return (latent - SHIFT) * SCALE


def from_model_space(latent: torch.Tensor) -> torch.Tensor:
    return latent / SCALE + SHIFT


class NewBieVAE(nn.Module):
    def __init__(self, vae: AutoencoderKL):
        super().__init__()
        self.vae = vae

    @property
    def dtype(self) -> torch.dtype:
        return self.vae.dtype

    @property
    def device(self) -> torch.device:
        return next(self.vae.parameters()).device

    @property
    def downscale(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @torch.no_grad()
    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """IMAGE [B,H,W,3] in 0..1 -> raw latent [B,16,H/8,W/8] (distribution mode)."""
        x = image[..., :3].permute(0, 3, 1, 2).to(self.device, self.dtype) * 2.0 - 1.0
        return self.vae.encode(x).latent_dist.mode().float()

    @torch.no_grad()
    def decode(self, latent: torch.Tensor, tile_size: int | None = None) -> torch.Tensor:
        """Raw latent [B,16,h,w] -> IMAGE [B,8h,8w,3] in 0..1 (float32).

        tile_size (pixels): decode in overlapping tiles blended at the seams, for
        large images on small cards; the mid-block attention then sees one tile.
        """
        z = latent.to(self.device, self.dtype)
        if tile_size and max(z.shape[-2:]) * self.downscale > tile_size:
            x = self._tiled(z, tile_size)
        else:
            x = self.vae.decode(z).sample
        if not torch.isfinite(x).all():  # never hand on a black/NaN image silently
            raise FloatingPointError(f"the VAE decoded NaN/Inf in {self.dtype}; decode in "
                                     "float32 (or check the latent for NaN)")
        return ((x.float() + 1.0) / 2.0).clamp(0.0, 1.0).permute(0, 2, 3, 1)

    def _tiled(self, z: torch.Tensor, tile_size: int) -> torch.Tensor:
        vae = self.vae
        saved = vae.tile_sample_min_size, vae.tile_latent_min_size
        vae.tile_sample_min_size, vae.tile_latent_min_size = tile_size, tile_size // self.downscale
        try:
            return vae.tiled_decode(z).sample
        finally:
            vae.tile_sample_min_size, vae.tile_latent_min_size = saved
