"""Starting noise that equals ComfyUI's for the same seed and latent shape."""
from __future__ import annotations

import torch


def comfy_noise(shape, seed: int, batch_index: list[int] | None = None) -> torch.Tensor:
    """torch.randn on a CPU generator seeded with `seed`, in float32, as core samplers
    do; with `batch_index`, noise i is the i-th draw of single-image noise."""
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    shape = tuple(shape)
    if batch_index is None:
        return torch.randn(shape, generator=gen, dtype=torch.float32)
    draws = [torch.randn((1, *shape[1:]), generator=gen, dtype=torch.float32)
             for _ in range(max(batch_index) + 1)]
    return torch.cat([draws[i] for i in batch_index])
