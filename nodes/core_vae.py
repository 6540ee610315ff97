"""The FLUX VAE as ComfyUI's own VAE object: what Load NewBie VAE returns and what
NewBie VAE Decode / Encode run on (theirs from core VAELoader too), through core's
decode, tiling and model management; float32 by default."""
from __future__ import annotations

from contextlib import contextmanager

import torch

from ..newbie.loading import CheckpointError, read_vae
from ..newbie.models.vae import flux_vae_config
from .memory import unload

FLUX_VAE = flux_vae_config()


def load(path, dtype: torch.dtype):
    """A FLUX VAE file (BFL `ae.safetensors` or a diffusers `vae/` folder), checked by the
    library and built by ComfyUI, which reads both layouts at the published size."""
    import comfy.sd

    file = read_vae(path)  # as stored: ComfyUI casts while copying into its VAE
    if file.config != FLUX_VAE:
        raise CheckpointError(file.path, "a FLUX-layout VAE with channels "
                              f"{file.config['block_out_channels']} and "
                              f"{file.config['layers_per_block']} blocks per level; ComfyUI's "
                              "VAE builds the FLUX VAE at its published size (channels "
                              f"{FLUX_VAE['block_out_channels']}, "
                              f"{FLUX_VAE['layers_per_block']} blocks per level).")
    vae = comfy.sd.VAE(sd=file.tensors, dtype=dtype)
    vae.newbie_sources = {"": file.path}  # to name the file if its weights hold NaN
    return vae


def check_flux_vae(vae, node: str) -> None:
    if getattr(vae, "first_stage_model", None) is None or \
            getattr(vae, "latent_channels", None) != 16:
        raise ValueError(f"{node} needs the FLUX VAE (16 latent channels); got a VAE with "
                         f"{getattr(vae, 'latent_channels', 'unknown')} latent channels")


@contextmanager
def in_dtype(vae, dtype: torch.dtype):
    """The VAE computing in `dtype`: itself, or for the block a core VAE over a copy of
    its weights (made from the offloaded weights, so only the copy visits the card)."""
    import comfy.sd

    if vae.vae_dtype == dtype:
        yield vae
        return
    unload(vae.patcher)
    copy = comfy.sd.VAE(sd=vae.get_sd(), dtype=dtype)
    try:
        yield copy
    finally:
        unload(copy.patcher)


def decode(vae, latent: torch.Tensor, dtype: torch.dtype, tile_size: int) -> torch.Tensor:
    with in_dtype(vae, dtype) as target:
        if not tile_size:
            return target.decode(latent)
        tile = tile_size // 8
        return target.decode_tiled(latent, tile_x=tile, tile_y=tile, overlap=min(8, tile // 4))


def encode(vae, pixels: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    with in_dtype(vae, dtype) as target:
        return target.encode(pixels[..., :3])
