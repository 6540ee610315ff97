"""What a checkpoint looks like, from its key names alone.

Used to route a file to the right converter and, when it is the wrong file,
to say what it seems to be instead.
"""
from __future__ import annotations

# (description, keys that all must be present), most specific first.
_SIGNATURES = [
    ("a NewBie Next-DiT transformer (official / ComfyUI keys)",
     ("cap_embedder.1.weight", "noise_refiner.0.attention.k_norm.weight",
      "clip_text_pooled_proj.0.weight")),
    ("a NewBie transformer in diffusers-port keys",
     ("time_caption_embed.caption_embedder.1.weight", "layers.0.attn.to_q.weight")),
    ("a Lumina-Image-2.0 NextDiT without NewBie's pooled-CLIP path",
     ("cap_embedder.1.weight", "noise_refiner.0.attention.k_norm.weight")),
    ("a Gemma 3 text encoder (ComfyUI single file)",
     ("model.layers.0.self_attn.q_norm.weight",
      "model.layers.0.post_feedforward_layernorm.weight")),
    ("a Gemma 3 text encoder (Hugging Face multimodal layout)",
     ("language_model.model.layers.0.self_attn.q_norm.weight",)),
    ("a Gemma 3 text encoder (transformers >= 4.52 layout)",
     ("model.language_model.layers.0.self_attn.q_norm.weight",)),
    ("a Gemma 3 text encoder (Gemma3Model layout)",
     ("language_model.layers.0.self_attn.q_norm.weight",)),
    ("a Jina CLIP v2 text encoder (ComfyUI single file)",
     ("model.encoder.layers.0.mixer.Wqkv.weight",)),
    ("a Jina CLIP v2 model (Hugging Face layout)",
     ("text_model.transformer.roberta.encoder.layers.0.mixer.Wqkv"
      ".parametrizations.weight.original",)),
    ("a FLUX VAE (BFL ae.safetensors keys)",
     ("decoder.conv_in.weight", "decoder.up.0.block.0.conv1.weight")),
    ("a VAE in diffusers keys",
     ("decoder.conv_in.weight", "decoder.up_blocks.0.resnets.0.conv1.weight")),
    ("a FLUX transformer", ("double_blocks.0.img_attn.qkv.weight",)),
    ("a Stable Diffusion UNet checkpoint", ("model.diffusion_model.input_blocks.0.0.weight",)),
    ("a Stable Diffusion 3 / MMDiT transformer", ("joint_blocks.0.x_block.attn.qkv.weight",)),
    ("a LoRA", ("lora_unet_",)),
]


def _has(keys: set[str], needed: str) -> bool:
    # A trailing "_" marks a name prefix (LoRA names), anything else an exact key.
    return needed in keys or needed.endswith("_") and any(k.startswith(needed) for k in keys)


def describe(keys) -> str:
    """A short description of what the keys look like."""
    keys = set(keys)
    for label, needed in _SIGNATURES:
        if all(_has(keys, k) for k in needed):
            return label
    if any(".lora_A." in k or ".lora_down." in k for k in keys):
        return "a LoRA"
    sample = ", ".join(sorted(keys)[:3])
    return f"an unknown model ({len(keys)} tensors, e.g. {sample})"
