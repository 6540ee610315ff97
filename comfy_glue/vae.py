"""The FLUX VAE as ComfyUI's own VAE object: what Load NewBie VAE returns and what
NewBie VAE Decode / Encode run on (theirs from core VAELoader too), through core's
decode, tiling and model management; float32 by default."""
from __future__ import annotations

import logging
import weakref
from contextlib import contextmanager
from pathlib import Path

import torch

import comfy.model_management as mm
import comfy.sd
import comfy.utils

from ..newbie.loading import CheckpointError, read_vae
from ..newbie.models.finite import non_finite_cause as weights_cause
from ..newbie.models.linear import cpu_has_half_gemm
from ..newbie.models.vae import flux_vae_config
from .memory import out_of_memory, reloads_with, unload, vae_device

log = logging.getLogger(__name__)
HALF = (torch.float16, torch.bfloat16)

FLUX_VAE = flux_vae_config()
# The file each VAE our loader made came from, to name it if its weights hold NaN.
# Weak: the map never keeps a VAE alive.
_SOURCES: "weakref.WeakKeyDictionary[comfy.sd.VAE, Path]" = weakref.WeakKeyDictionary()


def load(path, dtype: torch.dtype):
    """A FLUX VAE file (BFL `ae.safetensors` or a diffusers `vae/` folder), checked by the
    library and built by ComfyUI, which reads both layouts at the published size."""
    file = read_vae(path)  # as stored: ComfyUI casts while copying into its VAE
    if file.config != FLUX_VAE:
        raise CheckpointError(file.path, "a FLUX-layout VAE with channels "
                              f"{file.config['block_out_channels']} and "
                              f"{file.config['layers_per_block']} blocks per level; ComfyUI's "
                              "VAE builds the FLUX VAE at its published size (channels "
                              f"{FLUX_VAE['block_out_channels']}, "
                              f"{FLUX_VAE['layers_per_block']} blocks per level).")
    vae = comfy.sd.VAE(sd=file.tensors, dtype=dtype)
    _SOURCES[vae] = file.path
    reloads_with(vae.patcher, load_patcher, path, dtype)
    return vae


def load_patcher(path, dtype: torch.dtype, disable_dynamic: bool = False):
    """The reload factory: a fresh VAE's patcher, as core's VAE loader registers."""
    return load(path, dtype).patcher


def check_flux_vae(vae, node: str) -> None:
    if getattr(vae, "first_stage_model", None) is None or \
            getattr(vae, "latent_channels", None) != 16:
        raise ValueError(f"{node} needs the FLUX VAE (16 latent channels); got a VAE with "
                         f"{getattr(vae, 'latent_channels', 'unknown')} latent channels")


@contextmanager
def in_dtype(vae, dtype: torch.dtype):
    """The VAE computing in `dtype`: itself, or for the block a core VAE over a copy of
    its weights (made from the offloaded weights, so only the copy visits the card)."""
    if vae.vae_dtype == dtype:
        yield vae
        return
    unload(vae.patcher)
    copy = comfy.sd.VAE(sd=vae.get_sd(), dtype=dtype)
    try:
        yield copy
    finally:
        unload(copy.patcher)


def on_fast_path(dtype: torch.dtype, what: str) -> torch.dtype:
    """`dtype`, or float32 where the VAE runs on a CPU without that half precision's
    instructions: its convolutions are emulated there (docs/performance.md §4: float16
    2.5x float32 at 512² on an AVX512-BF16 CPU, bfloat16 about 100x on an AVX2 one)."""
    if dtype in HALF and vae_device().type == "cpu" and not cpu_has_half_gemm(dtype):
        log.warning("%s: %s on the CPU runs the VAE's convolutions on a slow path; computing "
                    "in float32 instead", what, str(dtype).split(".")[-1])
        return torch.float32
    return dtype


def decode(vae, latent: torch.Tensor, dtype: torch.dtype, tile_size: int) -> torch.Tensor:
    """IMAGE from a raw FLUX latent, in `dtype`; tiled when tile_size (pixels) is set."""
    dtype = on_fast_path(dtype, "NewBie VAE Decode")
    try:
        with in_dtype(vae, dtype) as target:
            if tile_size:
                image = decode_blended(target, latent, tile_size // 8)
            else:
                image = target.decode(latent)
    except torch.OutOfMemoryError:
        raise out_of_memory("decoding", "the tile size (try 1024, then 512), the resolution or "
                            "the batch size") from None
    if not torch.isfinite(image).all():
        cause = ("'samples' holds NaN or infinite values; check the node that made it"
                 if not torch.isfinite(latent).all() else non_finite_cause(vae, dtype))
        raise FloatingPointError(f"NewBie VAE Decode: the decoded image holds NaN or infinite "
                                 f"values; {cause}")
    return image.float().cpu()


def decode_blended(vae, latent: torch.Tensor, tile: int) -> torch.Tensor:
    """Decode in one pass of overlapping `tile`-latent tiles, blended by ComfyUI's
    feathered tiler. Core's 2-D decode_tiled averages three such passes (tile, half x
    double, double x half) to hide seams at three times the work; one pass with a wider
    overlap (half a tile) keeps the seams smaller at about half the work
    (tests/in_process/test_tiled_decode.py measures both)."""
    overlap = tile // 2
    batch, _, height, width = latent.shape
    memory = vae.memory_used_decode((batch, latent.shape[1], min(tile, height),
                                     min(tile, width)), vae.vae_dtype)
    mm.load_models_gpu([vae.patcher], memory_required=memory,
                       force_full_load=getattr(vae, "disable_offload", False))
    steps = batch * comfy.utils.get_tiled_scale_steps(width, height, tile, tile, overlap)

    def decode_tile(part):
        return vae.first_stage_model.decode(part.to(vae.vae_dtype).to(vae.device)).float()

    with torch.inference_mode():
        image = comfy.utils.tiled_scale(latent, decode_tile, tile, tile, overlap,
                                        upscale_amount=vae.upscale_ratio,
                                        output_device=vae.output_device,
                                        pbar=comfy.utils.ProgressBar(steps))
    return vae.process_output(image).movedim(1, -1)


def encode(vae, pixels: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A raw FLUX latent from an IMAGE, in `dtype`."""
    dtype = on_fast_path(dtype, "NewBie VAE Encode")
    try:
        with in_dtype(vae, dtype) as target:
            latent = target.encode(pixels[..., :3])
    except torch.OutOfMemoryError:
        raise out_of_memory("encoding the image", "the image size (scale it down first) or "
                            "the batch size, or the VAE dtype (bfloat16)") from None
    if not torch.isfinite(latent).all():
        cause = ("'pixels' holds NaN or infinite values" if not torch.isfinite(pixels).all()
                 else non_finite_cause(vae, dtype))
        raise FloatingPointError(f"NewBie VAE Encode: the latent holds NaN or infinite values; "
                                 f"{cause}")
    return latent.float().cpu()


def non_finite_cause(vae, dtype: torch.dtype) -> str:
    """Why the VAE's output is NaN/Inf; reads every weight, so only after a failure."""
    source = _SOURCES.get(vae)
    return weights_cause(vae.first_stage_model, {"": source} if source else {}, dtype,
                         "use float32 or bfloat16")
