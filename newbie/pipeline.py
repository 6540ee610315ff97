"""Prompt in, images out, without ComfyUI: encode -> sample -> decode."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .loading import load_text_encoders, load_transformer, load_vae
from .models import NewBieTextEncoders, NewBieTransformer, NewBieVAE
from .models.vae import from_model_space
from .prompt import DEFAULT_SYSTEM_PROMPT
from .sampling import comfy_noise, sample
from .sizes import check_size


@dataclass
class NewBiePipeline:
    transformer: NewBieTransformer
    text_encoders: NewBieTextEncoders
    vae: NewBieVAE

    @classmethod
    def from_files(cls, transformer, gemma, jina, vae, dtype="auto", device="cpu"):
        return cls(load_transformer(transformer, dtype=dtype, device=device),
                   load_text_encoders(gemma, jina, dtype=dtype, device=device),
                   load_vae(vae, dtype="float32", device=device))

    @torch.no_grad()
    def __call__(self, prompt: str, negative: str = "", *, width: int = 1024, height: int = 1024,
                 steps: int = 28, cfg: float = 4.5, seed: int = 0, solver: str = "euler",
                 shift: float = 6.0, cfg_trunc: float | None = None, renorm: float = 0.0,
                 batch_size: int = 1, system_prompt: str = DEFAULT_SYSTEM_PROMPT,
                 dtype: torch.dtype | None = None, callback=None) -> torch.Tensor:
        """Images [B, H, W, 3] in 0..1. Gemma gets the system prompt; the negative none."""
        check_size(width, height)
        cond = self.text_encoders.encode([prompt], system_prompt=system_prompt)
        uncond = self.text_encoders.encode([negative]) if cfg != 1.0 else None
        scale = self.vae.downscale
        noise = comfy_noise((batch_size, 16, height // scale, width // scale), seed)
        latent = sample(self.transformer, cond, uncond, noise, steps=steps, solver=solver,
                        shift=shift, cfg=cfg, cfg_trunc=cfg_trunc, renorm=renorm, dtype=dtype,
                        callback=callback)
        return self.vae.decode(from_model_space(latent))
