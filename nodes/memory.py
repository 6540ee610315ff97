"""Where the text encoders live, through ComfyUI's own model manager.

They get a `ModelPatcher` and is put on the compute device with
`load_models_gpu`, like core models. So ComfyUI frees room for it by unloading
whatever was used longest ago (its own models or ours: on a 16 GB card the text
encoders leave before the transformer arrives), and can unload ours when another
model needs the memory. Their transformers layers are loaded whole. (The
transformer is a standard MODEL, nodes/comfy_model.py; the VAE ComfyUI's own VAE,
nodes/core_vae.py.)
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import torch

from ..newbie.models.finite import first_non_finite


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


def damaged_weights(module: torch.nn.Module, sources: dict[str, Path]) -> str | None:
    """What holds NaN/Inf among a module's weights (file and tensor), or None. `sources`
    maps parameter-name prefixes to the files they came from. Slow: reads every weight."""
    name = first_non_finite(module)
    if name is None:
        return None
    prefix = max((p for p in sources if name.startswith(p)), key=len, default=None)
    where = f"the weights of {sources[prefix].name}" if prefix is not None else \
        "the model's weights"
    return (f"{where} hold NaN or infinite values (first: {name}); the file is damaged: "
            "download it again")


class Resident:
    """A NewBie model as ComfyUI sees it: what our loaders output. Like core's CLIP and
    VAE objects it carries its `ModelPatcher` as `.patcher`, so ComfyUI's output cache
    recognises it as a model (0.33 evicts old model outputs first under RAM pressure)
    and its model manager loads and unloads it. References point one way only
    (Resident -> patcher -> module): the module keeps nothing of ComfyUI's, so when the
    cache drops the Resident the weights are freed at once, not at the next gc pass.

    `compute=False` keeps it on the CPU (text encoders with device `cpu`). `wrapper`: the
    module class the patcher manages (ComfyResident or a subclass). `sources`
    maps parameter-name prefixes to the files they came from ("" for the whole model),
    so a damaged file can be named."""

    def __init__(self, module: torch.nn.Module, compute: bool = True,
                 sources: dict[str, Path] | None = None, wrapper=None):
        import comfy.model_management as mm
        from comfy.model_patcher import ModelPatcher

        # ComfyUI's plain ModelPatcher on every host: on 0.33 with dynamic VRAM core
        # models get ModelPatcherDynamic instead (docs/comfyui-hosts.md says why not ours).
        wrapper = wrapper or ComfyResident
        load_device = mm.get_torch_device() if compute else torch.device("cpu")
        self.patcher = ModelPatcher(wrapper(module), load_device=load_device,
                                    offload_device=mm.unet_offload_device())
        self.compute = compute
        self.sources = dict(sources or {})

    @property
    def model(self) -> torch.nn.Module:
        return self.patcher.model.newbie

    def __repr__(self) -> str:  # what core "Preview as Text" shows for our outputs
        params = sum(p.numel() for p in self.model.parameters())
        weight = _first_tensor(self.model)
        return (f"{type(self.model).__name__} ({params / 1e6:.1f}M parameters, {weight.dtype}, "
                f"on {weight.device})")


@contextmanager
def on_compute_device(resident: Resident, extra_bytes: int = 0, temporary: bool = False):
    """Load the model onto ComfyUI's compute device for the block, through
    `load_models_gpu`, with `extra_bytes` reserved for activations. It stays there
    afterwards, for ComfyUI to unload when it needs the room; a `temporary` model (a
    compute-dtype copy) is unloaded at the end. Yields the device to compute on."""
    import comfy.model_management as mm

    if not resident.compute:
        yield torch.device("cpu")
        return
    try:
        mm.load_models_gpu([resident.patcher], memory_required=extra_bytes,
                           force_full_load=not streams_every_weight(resident.model))
        yield resident.patcher.load_device
    finally:
        if temporary:
            unload(resident.patcher)


def unload(patcher):
    """Move a model (its ModelPatcher) off the compute device now, if ComfyUI has it
    loaded."""
    import comfy.model_management as mm

    for index in reversed(range(len(mm.current_loaded_models))):
        if mm.current_loaded_models[index].model is patcher:
            mm.current_loaded_models.pop(index).model_unload()
            mm.soft_empty_cache()
