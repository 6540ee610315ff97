"""Shared pieces of the node classes: category, custom socket types, common inputs."""
from __future__ import annotations

from comfy_api.latest import io

from ..comfy_glue.model_files import choice_problem, list_models
from ..newbie.loading import DTYPE_CHOICES

CATEGORY = "NewBie"
# Grouped as core groups its own nodes; node ids never change with them.
LOADERS, PROMPT, SAMPLING, LATENT = (f"{CATEGORY}/{group}" for group in
                                     ("loaders", "prompt", "sampling", "latent"))

# A list of plain character dicts, so it stays JSON-able across the graph.
CharacterList = io.Custom("NEWBIE_CHARACTER")

DTYPE_TOOLTIP = ("auto: bfloat16 where the device supports it, float16 on older CUDA cards, "
                 "float32 on CPU for the VAE. Weights load straight into this dtype.")


def dtype_input(default: str = "auto", extra: list[str] = (),
                tooltip: str = DTYPE_TOOLTIP) -> io.Combo.Input:
    return io.Combo.Input("dtype", options=[*DTYPE_CHOICES, *extra], default=default,
                          tooltip=tooltip)


def text_input(id: str, tooltip: str, multiline: bool = False, display_name: str | None = None,
               default: str = "", optional: bool = False,
               placeholder: str | None = None) -> io.String.Input:
    """A string widget for prompt text: never dynamic-prompt expanded ({a|b} stays literal)."""
    return io.String.Input(id, display_name=display_name, tooltip=tooltip, multiline=multiline,
                           default=default, dynamic_prompts=False, optional=optional,
                           placeholder=placeholder)


class ModelFileCombo(io.Combo.Input):
    """A combo of the model files and folders of one ComfyUI model folder. The value is
    resolved by name inside `folder` when the node runs (the list shown may be stale by
    then), so it is not checked against the options."""

    def __init__(self, id: str, folder: str, tooltip: str):
        super().__init__(id, options=list_models(folder), tooltip=tooltip)
        self.folder = folder


def check_model_choices(cls, **choices) -> bool | str:
    """validate_inputs for a loader: every ModelFileCombo value resolves, checked before
    the queue on every host (naming the inputs here replaces the host's own list check,
    which would refuse a file added after the list was read)."""
    specs = {spec.id: spec for spec in cls.define_schema().inputs}
    for name, value in choices.items():
        problem = choice_problem(specs[name].folder, value)
        if problem:
            return f"{cls.define_schema().display_name}: '{name}': {problem}"
    return True
