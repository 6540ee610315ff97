"""Tiny LoRAs for the tiny transformer, in the layouts people exchange."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from .tiny_models import TINY, official_dit_shapes, write_safetensors

# The NewbieLoraTrainer's default targets.
TRAINER_TARGETS = ("attention.qkv", "attention.out", "feed_forward.w2", "time_text_embed.1",
                   "clip_text_pooled_proj.1")


def target_modules(targets=TRAINER_TARGETS) -> list[str]:
    shapes = official_dit_shapes()
    return sorted(k[:-len(".weight")] for k in shapes
                  if k.endswith(".weight") and any(k[:-len(".weight")].endswith(t)
                                                   for t in targets) and len(shapes[k]) == 2)


def lora_pairs(rank=4, seed=0, std=0.05, targets=TRAINER_TARGETS) -> dict[str, tuple]:
    """module -> (A [rank, in], B [out, rank]) in float32."""
    shapes = official_dit_shapes()
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for module in target_modules(targets):
        rows, cols = shapes[module + ".weight"]
        out[module] = (torch.randn(rank, cols, generator=gen) * std,
                       torch.randn(rows, rank, generator=gen) * std)
    return out


def write_peft(folder: Path, pairs: dict, alpha: float, rslora=False) -> Path:
    """The NewbieLoraTrainer output: adapter_model.safetensors + adapter_config.json."""
    tensors = {}
    for module, (a, b) in pairs.items():
        tensors[f"base_model.model.{module}.lora_A.weight"] = a
        tensors[f"base_model.model.{module}.lora_B.weight"] = b
    write_safetensors(folder / "adapter_model.safetensors", tensors)
    rank = next(iter(pairs.values()))[0].shape[0]
    (folder / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "r": rank, "lora_alpha": alpha, "use_rslora": rslora,
        "target_modules": list(TRAINER_TARGETS), "lora_dropout": 0.0, "bias": "none"}))
    return folder


def write_single_file(path: Path, pairs: dict, alpha: float, kohya=False) -> Path:
    tensors = {}
    for module, (a, b) in pairs.items():
        name = "lora_unet_" + module.replace(".", "_") if kohya else "diffusion_model." + module
        tensors[f"{name}.lora_down.weight"] = a.to(torch.bfloat16)
        tensors[f"{name}.lora_up.weight"] = b.to(torch.bfloat16)
        tensors[f"{name}.alpha"] = torch.tensor(alpha)
    return write_safetensors(path, tensors)


def merged(base: dict, loras: list[tuple[dict, float]]) -> dict:
    """Hand-merged reference: W + sum(scale * B @ A) in float32."""
    out = {k: v.float().clone() for k, v in base.items()}
    for pairs, scale in loras:
        for module, (a, b) in pairs.items():
            out[module + ".weight"] += scale * (b.float() @ a.float())
    return out


__all__ = ["TINY", "lora_pairs", "merged", "write_peft", "write_single_file"]
