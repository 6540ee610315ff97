"""A complete random NewBie model set under ComfyUI's file names."""
from __future__ import annotations

from pathlib import Path

import torch

from .tiny_models import official_dit, write_safetensors
from .tiny_text import write_gemma_comfy, write_jina_comfy
from .tiny_vae import flux_vae, write_bfl_vae


def write_tiny_model_set(models: Path, names: dict[str, str] | None = None) -> dict[str, Path]:
    """A complete random NewBie model set under ComfyUI's file names: tiny transformer and
    text encoders, and a full-size FLUX VAE (core VAELoader only reads that size)."""
    names = {"model": "NewBie-Image-Exp0.1-bf16.safetensors",
             "gemma": "gemma_3_4b_it_bf16.safetensors",
             "jina": "jina_clip_v2_bf16.safetensors", "vae": "ae.safetensors", **(names or {})}
    models.mkdir(parents=True, exist_ok=True)
    return {
        "model": write_safetensors(models / "diffusion_models" / names["model"],
                                   official_dit(dtype=torch.bfloat16)),
        "gemma": write_gemma_comfy(models / "text_encoders" / names["gemma"]),
        "jina": write_jina_comfy(models / "text_encoders" / names["jina"]),
        "vae": write_bfl_vae(models / "vae" / names["vae"], flux_vae(), dtype=torch.bfloat16),
    }
