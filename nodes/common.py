"""Shared pieces of the node classes: category, custom socket types, errors."""
from __future__ import annotations

import torch
from comfy_api.latest import io

from ..newbie.loading import DTYPE_CHOICES
from .memory import damaged_weights

CATEGORY = "NewBie"

# A list of plain character dicts, so it stays JSON-able across the graph.
CharacterList = io.Custom("NEWBIE_CHARACTER")

DTYPE_TOOLTIP = ("auto: bfloat16 where the device supports it, float16 on older CUDA cards, "
                 "float32 on CPU for the VAE. Weights load straight into this dtype.")


def dtype_input(default: str = "auto") -> io.Combo.Input:
    return io.Combo.Input("dtype", options=list(DTYPE_CHOICES), default=default,
                          tooltip=DTYPE_TOOLTIP)


def text_input(id: str, tooltip: str, multiline: bool = False, display_name: str | None = None,
               default: str = "", optional: bool = False) -> io.String.Input:
    """A string widget for prompt text: never dynamic-prompt expanded ({a|b} stays literal)."""
    return io.String.Input(id, display_name=display_name, tooltip=tooltip, multiline=multiline,
                           default=default, dynamic_prompts=False, optional=optional)


def non_finite_cause(module: torch.nn.Module, sources: dict, dtype: torch.dtype,
                     float16_fix: str) -> str:
    """Why a model's output is NaN/Inf, and only the advice that would help."""
    damaged = damaged_weights(module, sources)
    if damaged:
        return damaged
    if dtype == torch.float16:
        return f"its weights are finite and float16 overflowed: {float16_fix}"
    return (f"its weights are finite and it runs in {str(dtype).replace('torch.', '')}; the "
            "input holds extreme values")


def out_of_memory(what: str, lower: str):
    """Free what can be freed, then say what to lower. Still an OutOfMemoryError, so
    ComfyUI's executor also unloads every model after it, as for core nodes."""
    import comfy.model_management as mm

    mm.soft_empty_cache()
    return torch.OutOfMemoryError(f"NewBie: out of memory while {what}. Lower {lower}, or let ComfyUI "
                       "offload (--lowvram) and keep the text encoders on the CPU.")
