"""Loads the FLUX VAE from BFL's `ae.safetensors` or a diffusers `vae/` folder.

Sizes come from the tensors (channels from conv shapes, blocks per level from
the keys); the rest is the FLUX config. Keys are checked strictly: diffusers'
own single-file path would keep random weights for missing keys.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import AutoencoderKL
from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

from ..models.state_dict import StateDictMismatch, check_state_dict, count_numbered
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


def _sizes(shapes: dict, layout: str) -> dict:
    level, block = _LAYOUTS[layout]
    levels = count_numbered(shapes, level.split("{i}")[0])
    first = level.format(i=0)
    blocks = count_numbered(shapes, first + block.split("{j}")[0])
    channels = [shapes[level.format(i=i) + block.format(j=0) + "conv2.weight"][0]
                for i in range(levels)]
    latent = shapes["encoder.conv_out.weight"][0] // 2  # mean and log-variance
    return flux_vae_config(tuple(channels), blocks, latent)


@dataclass
class VAEFile:
    """A FLUX VAE file, read and checked: its tensors under the file's own names (a
    ComfyUI prefix removed), the layout ("bfl" or "diffusers") and the diffusers config
    its sizes give."""
    path: Path
    layout: str
    config: dict
    tensors: dict[str, torch.Tensor]

    def diffusers_state_dict(self) -> dict[str, torch.Tensor]:
        if self.layout == "bfl":
            return convert_ldm_vae_checkpoint(self.tensors, self.config)
        return self.tensors


def _stored_float(ckpt: Checkpoint, key: str) -> torch.dtype:
    """The tensor's own dtype when it is a float (so it is read without a cast); else
    float32, which makes the read refuse it by name."""
    stored = ckpt.dtypes.get(key)
    return stored if stored is not None and stored.is_floating_point else torch.float32


def read_vae(path, dtype: torch.dtype | None = None) -> VAEFile:
    """Reads and checks a FLUX VAE file (keys and shapes strictly), cast to `dtype`, or
    as stored (memory-mapped, no copy) when it is None."""
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
    tensors = {k[len(prefix):]: ckpt.tensor(k, dtype or _stored_float(ckpt, k))
               for k in keys if k.startswith(prefix)}
    file = VAEFile(ckpt.path, layout, config, tensors)
    with torch.device("meta"):
        expected = AutoencoderKL.from_config(config).state_dict()
    try:
        check_state_dict(expected, file.diffusers_state_dict())
    except StateDictMismatch as err:
        raise CheckpointError(ckpt.path, f"keys or shapes do not fit the FLUX VAE ({err}).",
                              layout=describe(keys), missing=err.missing,
                              unexpected=err.unexpected) from None
    return file


def load_vae(path, dtype="auto", device="cpu") -> NewBieVAE:
    target = resolve_dtype(dtype, device, "vae")
    file = read_vae(path, target)
    with torch.device("meta"):
        vae = AutoencoderKL.from_config(file.config)
    vae.load_state_dict(file.diffusers_state_dict(), strict=True, assign=True)
    log.info("NewBie VAE: %s keys, channels %s, %s", file.layout,
             file.config["block_out_channels"], target)
    return NewBieVAE(vae.eval().requires_grad_(False)).to(device)
