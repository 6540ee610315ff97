"""LoRA files as ComfyUI weight patches on a NewBie MODEL, as core LoRA loaders make
them: the base MODEL is untouched; ComfyUI applies the patch when it loads the model."""
from __future__ import annotations

from comfy.weight_adapter import LoRAAdapter

from ..newbie.lora import read_lora


def with_lora(model, diffusion, path, strength: float):
    """A clone of the MODEL with every adapter of the file that fits its transformer
    (names resolved by the library: PEFT, single-file, kohya and diffusers-port)."""
    patches = {}
    for module, delta in read_lora(diffusion, path).items():
        rank = delta.down.shape[0]
        # ComfyUI's LoRA scale is alpha / rank.
        patches[f"diffusion_model.{module}.weight"] = LoRAAdapter(
            set(), (delta.up, delta.down, delta.scale * rank, None, None, None))
    patched = model.clone()
    patched.add_patches(patches, strength)
    return patched
