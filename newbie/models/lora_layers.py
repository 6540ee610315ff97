"""Runtime LoRA for the transformer: Linear layers that add s * B(A x).

A LoRA'd model is a clone whose parameters share storage with the base model
(nothing copied) and whose targeted Linear layers also run the low-rank paths.
The base model is never touched; the deltas are non-persistent buffers, so the
clone's state_dict is the base weights and `.to()` moves the deltas along.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .linear import linear


@dataclass
class LoraDelta:
    """One adapter on one Linear: W' = W + scale * B @ A (scale includes strength)."""

    down: torch.Tensor  # A [rank, in]
    up: torch.Tensor    # B [out, rank]
    scale: float


class LoraLinear(nn.Module):
    def __init__(self, base: nn.Linear, deltas: list[LoraDelta]):
        super().__init__()
        self.weight, self.bias = base.weight, base.bias
        self.scales = [d.scale for d in deltas]
        for i, d in enumerate(deltas):
            self.register_buffer(f"lora_down_{i}", d.down.to(base.weight.dtype), persistent=False)
            self.register_buffer(f"lora_up_{i}", d.up.to(base.weight.dtype), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = linear(x, self.weight, self.bias)
        for i, scale in enumerate(self.scales):
            down, up = getattr(self, f"lora_down_{i}"), getattr(self, f"lora_up_{i}")
            y = y + scale * linear(linear(x, down), up)
        return y


def attach(model: nn.Module, stack: list[tuple[str, dict[str, LoraDelta]]]) -> nn.Module:
    """Wrap every Linear named in `stack` (module name -> delta) in `model`, in place;
    `model` must be a fresh clone. Records the stack on the model."""
    by_module: dict[str, list[LoraDelta]] = {}
    for _, deltas in stack:
        for name, delta in deltas.items():
            by_module.setdefault(name, []).append(delta)
    for name, deltas in by_module.items():
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        base = getattr(parent, child)
        if not isinstance(base, nn.Linear):
            raise TypeError(f"LoRA target {name} is a {type(base).__name__}, not a Linear")
        setattr(parent, child, LoraLinear(base, deltas))
    model.lora_stack = list(stack)
    return model
