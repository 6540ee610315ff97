"""Where NewBie's models live, through ComfyUI's own model manager.

Each model (transformer, text encoders, VAE) gets a `ModelPatcher` and is put on
the compute device with `load_models_gpu`, like core models. So ComfyUI frees
room for it by unloading whatever was used longest ago (its own models or ours:
on a 16 GB card the text encoders leave before the transformer arrives), and
can unload ours when another model needs the memory. The transformer's layers
follow ComfyUI's cast-on-the-fly protocol (newbie/models/host_weights.py), so on
a card too small for it ComfyUI loads what fits and streams the rest (as
--lowvram does for core models). The text encoders and the VAE are plain
transformers/diffusers layers and are loaded whole.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch

_PATCHER = "_comfy_model_patcher"


class ComfyResident(torch.nn.Module):
    """The module a ModelPatcher manages for a NewBie model. ModelPatcher assigns
    `.device` and bookkeeping attributes, which diffusers' ModelMixin (a read-only
    `device`) does not allow, so the model sits inside this plain module."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.newbie = model
        self.device = _first_tensor(model).device

    def to(self, *args, **kwargs):
        """Moves through the model's own `to` (diffusers' checks included)."""
        self.newbie.to(*args, **kwargs)
        return self

    def get_dtype(self) -> torch.dtype:
        return next((p.dtype for p in self.newbie.parameters() if p.is_floating_point()),
                    torch.float32)


def streams_every_weight(model: torch.nn.Module) -> bool:
    """Whether every module holding parameters can run with its weights off the card
    (ComfyUI's own test: a `comfy_cast_weights` attribute), so a partial load is safe."""
    return all(hasattr(m, "comfy_cast_weights") for m in model.modules()
               if next(m.parameters(recurse=False), None) is not None)


def _first_tensor(module: torch.nn.Module) -> torch.Tensor:
    return next(iter([*module.parameters(), *module.buffers()]))


class _PatcherSlot:
    """Holds a model's ModelPatcher. A deep copy of the model (a dtype copy) starts
    with an empty slot: the patcher belongs to the original."""

    def __init__(self, patcher=None):
        self.patcher = patcher

    def __deepcopy__(self, memo):
        return _PatcherSlot()


def _patcher_of(model: torch.nn.Module):
    slot = model.__dict__.get(_PATCHER)
    return slot.patcher if slot is not None else None


def model_patcher(model: torch.nn.Module):
    """The model's ModelPatcher, made once and kept on the model, so ComfyUI's list of
    loaded models sees one entry per model for as long as the model lives."""
    patcher = _patcher_of(model)
    if patcher is None:
        import comfy.model_management as mm
        from comfy.model_patcher import ModelPatcher

        patcher = ModelPatcher(ComfyResident(model), load_device=mm.get_torch_device(),
                               offload_device=mm.unet_offload_device())
        model.__dict__[_PATCHER] = _PatcherSlot(patcher)
    return patcher


@contextmanager
def on_compute_device(model: torch.nn.Module, extra_bytes: int = 0, temporary: bool = False):
    """Load `model` onto ComfyUI's compute device for the block, through
    `load_models_gpu`, with `extra_bytes` reserved for activations. The model stays
    there afterwards, for ComfyUI to unload when it needs the room; a `temporary`
    model (e.g. a compute-dtype copy) is unloaded and forgotten at the end."""
    import comfy.model_management as mm

    patcher = model_patcher(model)
    try:
        mm.load_models_gpu([patcher], memory_required=extra_bytes,
                           force_full_load=not streams_every_weight(model))
        yield patcher.load_device
    finally:
        if temporary:
            release(model)


def unload(model: torch.nn.Module):
    """Move `model` off the compute device now, if ComfyUI has it loaded."""
    import comfy.model_management as mm

    patcher = _patcher_of(model)
    if patcher is None:
        return
    for index in reversed(range(len(mm.current_loaded_models))):
        if mm.current_loaded_models[index].model is patcher:
            mm.current_loaded_models.pop(index).model_unload()
            mm.soft_empty_cache()


def release(model: torch.nn.Module):
    """Unload `model` and forget its patcher (for temporary copies)."""
    unload(model)
    model.__dict__.pop(_PATCHER, None)
