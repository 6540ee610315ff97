"""Layers whose weights may stay in host memory while the model runs elsewhere.

The protocol is ComfyUI's partial-load one (its ModelPatcher drives it; this
module does not import ComfyUI): when a layer's `comfy_cast_weights` is set, or
`weight_function` / `bias_function` patches are present, the weight is copied
to the input's device for each call and the patches applied; otherwise the
stored tensors are used as they are, with no cost. So a model larger than the
card can run with part of its layers on the card and the rest streamed.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class HostWeights:
    """Mixin for modules with a `weight` (and maybe a `bias`) parameter."""

    def _init_host_weights(self):
        self.comfy_cast_weights = False
        self.weight_function: list = []
        self.bias_function: list = []

    def _streaming(self) -> bool:
        return self.comfy_cast_weights or bool(self.weight_function) or bool(self.bias_function)

    def cast(self, tensor: torch.Tensor | None, like: torch.Tensor, patches=()):
        if tensor is None or not self._streaming():
            return tensor
        tensor = tensor.to(like.device, non_blocking=True)
        for patch in patches:
            tensor = patch(tensor)
        return tensor

    def cast_weight(self, like: torch.Tensor) -> torch.Tensor:
        return self.cast(self.weight, like, self.weight_function)

    def cast_bias(self, like: torch.Tensor) -> torch.Tensor | None:
        return self.cast(self.bias, like, self.bias_function)


class Linear(HostWeights, nn.Linear):
    """nn.Linear (same parameters and state-dict keys) that can stream its weights."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_host_weights()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.cast_weight(x), self.cast_bias(x))

