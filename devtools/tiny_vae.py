"""FLUX VAEs with random weights, written in BFL `ae.safetensors` keys and as a diffusers
folder: a tiny one for the library, and one at the published size, the only size
ComfyUI's VAE object (and so Load NewBie VAE) builds."""
from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from diffusers import AutoencoderKL
from .tiny_models import random_tensors, write_safetensors

from newbie.models.vae import flux_vae_config

TINY_VAE = flux_vae_config(block_out_channels=(32, 32, 32, 32), layers_per_block=1)


def diffusers_vae(seed=0) -> AutoencoderKL:
    vae = AutoencoderKL.from_config(TINY_VAE).eval()
    shapes = {k: tuple(v.shape) for k, v in vae.state_dict().items()}
    vae.load_state_dict(random_tensors(shapes, seed=seed, std=0.05))
    return vae


def flux_vae(seed=0) -> AutoencoderKL:
    """The FLUX VAE at its published size; weights small enough that images stay finite
    and vary (norm scales 1, biases 0)."""
    vae = AutoencoderKL.from_config(flux_vae_config()).eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in vae.named_parameters():
            if p.dim() > 1:
                p.normal_(0.0, 0.02, generator=generator)
            else:
                p.fill_(1.0 if name.endswith("weight") else 0.0)
    return vae


def to_bfl(state: dict, levels=4) -> dict:
    """diffusers names -> BFL `ae.safetensors` names (the inverse of the mapping ComfyUI and
    diffusers use to convert BFL files)."""
    out = {}
    for key, value in state.items():
        k = key
        k = re.sub(r"^encoder\.down_blocks\.(\d+)\.resnets\.", r"encoder.down.\1.block.", k)
        k = re.sub(r"^encoder\.down_blocks\.(\d+)\.downsamplers\.0\.", r"encoder.down.\1.downsample.", k)
        k = re.sub(r"^decoder\.up_blocks\.(\d+)\.resnets\.",
                   lambda m: f"decoder.up.{levels - 1 - int(m.group(1))}.block.", k)
        k = re.sub(r"^decoder\.up_blocks\.(\d+)\.upsamplers\.0\.",
                   lambda m: f"decoder.up.{levels - 1 - int(m.group(1))}.upsample.", k)
        k = k.replace("conv_shortcut", "nin_shortcut").replace("conv_norm_out", "norm_out")
        k = re.sub(r"mid_block\.resnets\.(\d)\.", lambda m: f"mid.block_{int(m.group(1)) + 1}.", k)
        attn = re.match(r"^(encoder|decoder)\.mid_block\.attentions\.0\.(\w+)(\.0)?\.(weight|bias)$", k)
        if attn:
            name = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v",
                    "to_out": "proj_out"}[attn.group(2)]
            k = f"{attn.group(1)}.mid.attn_1.{name}.{attn.group(4)}"
            if value.dim() == 2:  # Linear -> 1x1 conv
                value = value[:, :, None, None]
        out[k] = value
    return out


def write_bfl_vae(path: Path, vae: AutoencoderKL, dtype=torch.float32) -> Path:
    return write_safetensors(path, {k: v.to(dtype) for k, v in to_bfl(vae.state_dict()).items()})


def write_diffusers_vae_folder(root: Path, vae: AutoencoderKL, dtype=torch.float32) -> Path:
    folder = root / "vae"
    write_safetensors(folder / "diffusion_pytorch_model.safetensors",
                      {k: v.to(dtype) for k, v in vae.state_dict().items()})
    config = {k: v for k, v in vae.config.items() if not k.startswith("_")}
    (folder / "config.json").write_text(json.dumps({"_class_name": "AutoencoderKL", **config}))
    return root
