"""LoRA adapters for the NewBie transformer.

Reads the NewbieLoraTrainer's PEFT adapters (`base_model.model.<module>.lora_A/B`,
rank/alpha/rsLoRA from adapter_config.json or the file's metadata) and the
single-file layouts people exchange (`diffusion_model.<module>.lora_down/up` +
`.alpha`, and kohya's `lora_unet_<module_with_underscores>`). `apply_lora`
returns a clone: the model passed in stays exactly as it was.
"""
from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path

import torch
from torch import nn

from .loading.errors import CheckpointError
from .loading.files import Checkpoint
from .models.lora_layers import LoraDelta, LoraLinear
from .models.transformer import NewBieTransformer, clone

log = logging.getLogger(__name__)
ADAPTER_FILE = "adapter_model.safetensors"
CONFIG_FILE = "adapter_config.json"
_PEFT = re.compile(r"^(?:base_model\.model\.)?(.+?)\.lora_([AB])(?:\.[\w-]+)?\.weight$")
_SINGLE = re.compile(r"^(.+?)\.(lora_down|lora_up)\.weight$|^(.+?)\.alpha$")
_PREFIXES = ("diffusion_model.", "model.diffusion_model.", "transformer.", "model.", "unet.")
_TEXT_ENCODER_HINTS = ("lora_te", "text_encoder", "te1_", "te2_", "gemma", "clip_l", "jina")


def _files(path: Path) -> tuple[Path, dict]:
    """The adapter's safetensors file and its PEFT config (may be empty)."""
    file = path / ADAPTER_FILE if path.is_dir() else path
    config_path = file.parent / CONFIG_FILE
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    return file, config


def _module_names(model: nn.Module) -> dict[str, str]:
    """Every Linear of the model, by dotted name and by kohya's underscored name."""
    names = {}
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, LoraLinear)):
            names[name] = name
            names[name.replace(".", "_")] = name
    return names


def _resolve(raw: str, modules: dict[str, str]) -> str | None:
    if raw.startswith("lora_unet_"):
        return modules.get(raw[len("lora_unet_"):])
    for prefix in ("", *_PREFIXES):
        if raw.startswith(prefix) and raw[len(prefix):] in modules:
            return modules[raw[len(prefix):]]
    return None


def _pairs(ckpt: Checkpoint) -> tuple[dict[str, dict], str]:
    """raw module name -> {"down", "up", "alpha"} key names, and the layout."""
    pairs: dict[str, dict] = {}
    layout = None
    for key in ckpt.keys():
        peft = _PEFT.match(key)
        if peft:
            layout = "PEFT adapter"
            pairs.setdefault(peft.group(1), {})["down" if peft.group(2) == "A" else "up"] = key
            continue
        single = _SINGLE.match(key)
        if single:
            layout = layout or "single-file LoRA (lora_down/lora_up)"
            if single.group(3):
                pairs.setdefault(single.group(3), {})["alpha"] = key
            else:
                part = "down" if single.group(2) == "lora_down" else "up"
                pairs.setdefault(single.group(1), {})[part] = key
    return pairs, layout or "no LoRA keys"


def _peft_scale(config: dict, metadata: dict, rank: int) -> float:
    alpha = config.get("lora_alpha", metadata.get("lora_alpha"))
    rslora = config.get("use_rslora", str(metadata.get("use_rslora", "")).lower() == "true")
    alpha = float(alpha) if alpha is not None else float(rank)
    return alpha / (math.sqrt(rank) if rslora else rank)


def read_lora(model: NewBieTransformer, path, strength: float = 1.0) -> dict[str, LoraDelta]:
    """Module name -> delta for every adapter pair of the file that fits the model."""
    path = Path(path)
    file, config = _files(path)
    ckpt = Checkpoint.open(file)
    pairs, layout = _pairs(ckpt)
    if any(h in k.lower() for k in ckpt.keys() for h in _TEXT_ENCODER_HINTS):
        raise CheckpointError(ckpt.path, "this LoRA targets the text encoders; NewBie LoRAs "
                                         "apply to the transformer only.", layout=layout)
    modules = _module_names(model)
    weights = dict(model.named_parameters())
    deltas, unmapped = {}, []
    metadata = ckpt.metadata()
    for raw, parts in pairs.items():
        target = _resolve(raw, modules)
        if target is None or "down" not in parts or "up" not in parts:
            unmapped.append(raw)
            continue
        down = ckpt.tensor(parts["down"], torch.float32)
        up = ckpt.tensor(parts["up"], torch.float32)
        rank = down.shape[0]
        base = weights[target + ".weight"]
        if up.shape[1] != rank or (up.shape[0], down.shape[1]) != tuple(base.shape):
            raise CheckpointError(ckpt.path, f"{raw}: LoRA shapes down {list(down.shape)} / up "
                                             f"{list(up.shape)} do not fit {target} "
                                             f"{list(base.shape)}.", layout=layout)
        if "alpha" in parts:
            scale = float(ckpt.tensor(parts["alpha"], torch.float32)) / rank
        elif layout == "PEFT adapter":
            scale = _peft_scale(config, metadata, rank)
        else:
            scale = 1.0
        deltas[target] = LoraDelta(down, up, strength * scale)
    if not deltas:
        raise CheckpointError(ckpt.path, "no LoRA key maps to the NewBie transformer; is it "
                                         "a LoRA for another model?", layout=layout,
                              unexpected=unmapped or ckpt.keys())
    if unmapped:
        log.warning("NewBie LoRA %s: %d of %d adapters applied; not mapped: %s", ckpt.path.name,
                    len(deltas), len(deltas) + len(unmapped), ", ".join(unmapped[:5]))
    return deltas


def apply_lora(model: NewBieTransformer, path, strength: float = 1.0) -> NewBieTransformer:
    """A new model with the LoRA at `path` (PEFT folder or .safetensors) added on top of
    any already applied; `model` itself stays exactly as it was."""
    from .models.lora_layers import attach

    deltas = read_lora(model, path, strength)
    stack = [*getattr(model, "lora_stack", []), (str(path), deltas)]
    return attach(clone(model, keep_lora=False), stack)
