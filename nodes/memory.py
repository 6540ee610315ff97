"""Where NewBie's models live between steps, for cards around 16 GB.

ComfyUI's own model manager does not know these modules, so the nodes follow a
simple schedule: a model is moved onto the compute device only for its phase,
after asking ComfyUI to free that much memory (which unloads its own models),
and moved back to the offload device afterwards unless ComfyUI runs with
--highvram. So the text encoders are off the card while sampling, and the
transformer is off it while encoding and decoding.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch


def _bytes(module: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in [*module.parameters(), *module.buffers()])


def keep_resident() -> bool:
    import comfy.model_management as mm

    return mm.vram_state == mm.VRAMState.HIGH_VRAM


@contextmanager
def on_compute_device(module: torch.nn.Module, extra_bytes: int = 0):
    """Move `module` to ComfyUI's compute device for the block, then offload it."""
    import comfy.model_management as mm

    device = mm.get_torch_device()
    if device.type != "cpu":
        mm.free_memory(_bytes(module) + extra_bytes, device)
    module.to(device)
    try:
        yield device
    finally:
        if device.type != "cpu" and not keep_resident():
            module.to(mm.unet_offload_device())
            mm.soft_empty_cache()
