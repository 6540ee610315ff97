"""Memory through ComfyUI's model manager: devices, unloading a model now, how core
re-creates a model, and an out-of-memory error that says what to lower."""
from __future__ import annotations

import torch

import comfy.model_management as mm


def unload(patcher) -> None:
    """Move a model (its ModelPatcher) off the compute device now, if ComfyUI has it
    loaded."""
    for index in reversed(range(len(mm.current_loaded_models))):
        if mm.current_loaded_models[index].model is patcher:
            mm.current_loaded_models.pop(index).model_unload()
            mm.soft_empty_cache()


def out_of_memory(what: str, lower: str) -> torch.OutOfMemoryError:
    """Free what can be freed, then say what to lower. Still an OutOfMemoryError, so
    ComfyUI's executor also unloads every model after it, as for core nodes."""
    mm.soft_empty_cache()
    return torch.OutOfMemoryError(f"NewBie: out of memory while {what}. Lower {lower}, or let "
                                  "ComfyUI offload (--lowvram) and keep the text encoders on "
                                  "the CPU.")


def compute_device() -> torch.device:
    return mm.get_torch_device()


def vae_device() -> torch.device:
    return mm.vae_device()


def reloads_with(patcher, factory, *args) -> None:
    """Register how core re-creates this model: `factory(*args, disable_dynamic=...)`
    returns a fresh patcher. Hosts without the mechanism (0.3.75) never ask for it."""
    if hasattr(patcher, "cached_patcher_init"):
        patcher.cached_patcher_init = (factory, args)
