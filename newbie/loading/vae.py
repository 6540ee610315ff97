"""Loads the FLUX VAE from BFL's `ae.safetensors` or a diffusers `vae/` folder.

Sizes come from the tensors (channels from conv shapes, blocks per level from
the keys); the rest is the FLUX config. Keys are checked strictly: diffusers'
own single-file path would keep random weights for missing keys.
"""
from __future__ import annotations

import logging
import re

import torch
from diffusers import AutoencoderKL
from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

from ..models.state_dict import StateDictMismatch, check_state_dict
from ..models.vae import NewBieVAE, flux_vae_config
from .dtype import resolve_dtype
from .errors import CheckpointError
from .files import Checkpoint
from .layouts import describe

log = logging.getLogger(__name__)
# (layout, prefix of level i, block j inside a level)
_LAYOUTS = {"bfl": ("encoder.down.{i}.", "block.{j}."),
            "diffusers": ("encoder.down_blocks.{i}.", "resnets.{j}.")}
_COMFY_PREFIXES = ("first_stage_model.", "vae.")


def _count(keys, pattern: str) -> int:
    regex = re.compile(pattern)
    return 1 + max((int(m.group(1)) for k in keys if (m := regex.match(k))), default=-1)


def _sizes(shapes: dict, layout: str) -> dict:
    level, block = _LAYOUTS[layout]
    levels = _count(shapes, re.escape(level.split("{i}")[0]) + r"(\d+)\.")
    first = level.format(i=0)
    blocks = _count(shapes, re.escape(first + block.split("{j}")[0]) + r"(\d+)\.")
    channels = [shapes[level.format(i=i) + block.format(j=0) + "conv2.weight"][0]
                for i in range(levels)]
    latent = shapes["encoder.conv_out.weight"][0] // 2  # mean and log-variance
    return flux_vae_config(tuple(channels), blocks, latent)


def load_vae(path, dtype="auto", device="cpu") -> NewBieVAE:
    target = resolve_dtype(dtype, device, "vae")
    ckpt = Checkpoint.open(path, subfolder="vae")
    keys = ckpt.keys()
    prefix = next((p for p in _COMFY_PREFIXES if p + "encoder.conv_in.weight" in ckpt), "")
    shapes = {k[len(prefix):]: s for k, s in ckpt.shapes.items() if k.startswith(prefix)}
    if "encoder.down.0.block.0.conv1.weight" in shapes:
        layout = "bfl"
    elif "encoder.down_blocks.0.resnets.0.conv1.weight" in shapes:
        layout = "diffusers"
    else:
        raise CheckpointError(ckpt.path, "this is not a FLUX VAE.", layout=describe(keys),
                              missing=["encoder.down.0.block.0.conv1.weight"])
    try:
        config = _sizes(shapes, layout)
    except KeyError as err:
        raise CheckpointError(ckpt.path, "VAE tensors missing.", layout=describe(keys),
                              missing=[str(err.args[0])]) from None
    if config["latent_channels"] != 16:
        raise CheckpointError(ckpt.path, f"a VAE with {config['latent_channels']} latent "
                                         "channels; NewBie needs the 16-channel FLUX VAE.",
                              layout=describe(keys))
    with torch.device("meta"):
        vae = AutoencoderKL.from_config(config)
    tensors = {k[len(prefix):]: ckpt.tensor(k, target) for k in keys if k.startswith(prefix)}
    if layout == "bfl":
        tensors = convert_ldm_vae_checkpoint(tensors, vae.config)
    try:
        check_state_dict(vae.state_dict(), tensors)
    except StateDictMismatch as err:
        raise CheckpointError(ckpt.path, f"keys or shapes do not fit the FLUX VAE ({err}).",
                              layout=describe(keys), missing=err.missing,
                              unexpected=err.unexpected) from None
    vae.load_state_dict({k: v.to(target) for k, v in tensors.items()}, strict=True, assign=True)
    log.info("NewBie VAE: %s keys, channels %s, %s", layout, config["block_out_channels"], target)
    return NewBieVAE(vae.eval().requires_grad_(False)).to(device)
