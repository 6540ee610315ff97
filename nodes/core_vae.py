"""NewBie VAE Decode / Encode on core's VAE object (core VAELoader with the FLUX VAE):
the same dtype choice (float32 by default) and tiling as with ours, through core's own
decode and encode."""
from __future__ import annotations

import torch


def check_flux_vae(vae, node: str) -> None:
    if getattr(vae, "first_stage_model", None) is None or \
            getattr(vae, "latent_channels", None) != 16:
        raise ValueError(f"{node} needs the FLUX VAE (16 latent channels); got a VAE with "
                         f"{getattr(vae, 'latent_channels', 'unknown')} latent channels")


def in_dtype(vae, dtype: torch.dtype):
    """The VAE computing in `dtype`: itself, or a new core VAE over its weights."""
    import comfy.sd

    if vae.vae_dtype == dtype:
        return vae
    return comfy.sd.VAE(sd=vae.get_sd(), dtype=dtype)


def decode(vae, latent: torch.Tensor, dtype: torch.dtype, tile_size: int) -> torch.Tensor:
    target = in_dtype(vae, dtype)
    if not tile_size:
        return target.decode(latent)
    tile = tile_size // 8
    return target.decode_tiled(latent, tile_x=tile, tile_y=tile, overlap=min(8, tile // 4))


def encode(vae, pixels: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return in_dtype(vae, dtype).encode(pixels[..., :3])
