"""LoRA adapters for the NewBie transformer.

Reads the NewbieLoraTrainer's PEFT adapters (`base_model.model.<module>.lora_A/B`,
rank/alpha/rsLoRA from adapter_config.json or the file's metadata) and the
single-file layouts people exchange (`diffusion_model.<module>.lora_down/up` +
`.alpha`, and kohya's `lora_unet_<module_with_underscores>`), under the official
names or the diffusers-port ones (`layers.N.attn.to_q`, `feed_forward.linear_1`,
...; separate to_q/to_k/to_v adapters become one exact block delta on the fused
qkv). `read_lora` gives the deltas, which ComfyUI applies as weight patches;
`apply_lora` merges them into a new model the same way (in float32, then stored in the
weights' dtype), and the model passed in stays exactly as it was.
"""
from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .loading.errors import CheckpointError
from .loading.files import Checkpoint, read_json
from .loading.transformer import official_name
from .models.transformer import NewBieTransformer

log = logging.getLogger(__name__)
ADAPTER_FILE = "adapter_model.safetensors"
CONFIG_FILE = "adapter_config.json"
_PEFT = re.compile(r"^(?:base_model\.model\.)?(.+?)\.lora_([AB])(?:\.[\w-]+)?\.weight$")
_SINGLE = re.compile(r"^(.+?)\.(lora_down|lora_up)\.weight$|^(.+?)\.alpha$")
_PREFIXES = ("diffusion_model.", "model.diffusion_model.", "transformer.", "model.", "unet.")
_DIFFUSERS_QKV = re.compile(r"^(.+)\.attn\.to_([qkv])$")
_TEXT_ENCODER_HINTS = ("lora_te", "text_encoder", "te1_", "te2_", "gemma", "clip_l", "jina")


@dataclass
class LoraDelta:
    """One adapter on one Linear: W' = W + scale * up @ down (scale includes strength)."""

    down: torch.Tensor  # A [rank, in]
    up: torch.Tensor    # B [out, rank]
    scale: float


def _files(path: Path) -> tuple[Path, dict]:
    """The adapter's safetensors file and its PEFT config (may be empty)."""
    file = path / ADAPTER_FILE if path.is_dir() else path
    config_path = file.parent / CONFIG_FILE
    config = read_json(config_path, "adapter config") if config_path.exists() else {}
    if not isinstance(config, dict):
        raise CheckpointError(config_path, "an adapter config must be a JSON object; this one is "
                                           f"a {type(config).__name__}.")
    return file, config


def _module_names(model: nn.Module) -> dict[str, str]:
    """Every Linear of the model, by dotted name and by kohya's underscored name."""
    names = {}
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            names[name] = name
            names[name.replace(".", "_")] = name
    return names


def _unprefixed(raw: str):
    for prefix in ("", *_PREFIXES):
        if raw.startswith(prefix):
            yield raw[len(prefix):]


def _resolve(raw: str, modules: dict[str, str]) -> str | None:
    if raw.startswith("lora_unet_"):
        return modules.get(raw[len("lora_unet_"):])
    for name in _unprefixed(raw):
        if name in modules:
            return modules[name]
        official = official_name(name + ".weight")[:-len(".weight")]  # diffusers-port name
        if official in modules:
            return modules[official]
    return None


def _qkv_part(raw: str, modules: dict[str, str]) -> tuple[str, str] | None:
    """(fused qkv module, "q"/"k"/"v") for a diffusers-port to_q/to_k/to_v adapter."""
    for name in _unprefixed(raw):
        match = _DIFFUSERS_QKV.match(name)
        if match and match.group(1) + ".attention.qkv" in modules:
            return modules[match.group(1) + ".attention.qkv"], match.group(2)
    return None


def _fuse_qkv(model: nn.Module, parts: dict[str, LoraDelta]) -> LoraDelta:
    """One delta on the fused qkv rows [q; k; v] from separate q/k/v adapters: the
    downs stacked, the ups on a block diagonal (scales folded in), so
    B @ A = [s_q B_q A_q; s_k B_k A_k; s_v B_v A_v] exactly; a missing part is zero."""
    attention = model.layers[0].attention  # same layout in every block
    q_rows = attention.out.in_features
    kv_rows = (attention.qkv.out_features - q_rows) // 2
    rows = {"q": q_rows, "k": kv_rows, "v": kv_rows}
    present = [p for p in "qkv" if p in parts]
    down = torch.cat([parts[p].down for p in present])
    up = torch.zeros(sum(rows.values()), down.shape[0])
    row, col = 0, 0
    for part in "qkv":
        if part in parts:
            delta = parts[part]
            if delta.up.shape[0] != rows[part]:
                raise ValueError(f"to_{part} LoRA has {delta.up.shape[0]} output rows; the "
                                 f"model's {part} projection has {rows[part]}")
            rank = delta.down.shape[0]
            up[row:row + rows[part], col:col + rank] = delta.scale * delta.up
            col += rank
        row += rows[part]
    return LoraDelta(down, up, 1.0)


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


def _peft_scale(config: dict, metadata: dict, rank: int, where: Path) -> float:
    alpha = config.get("lora_alpha", metadata.get("lora_alpha"))
    rslora = config.get("use_rslora", str(metadata.get("use_rslora", "")).lower() == "true")
    if alpha is None:
        alpha = rank
    try:
        if isinstance(alpha, bool):
            raise ValueError
        alpha = float(alpha)
    except (TypeError, ValueError):
        raise CheckpointError(where, f"lora_alpha must be a number; got {alpha!r}.") from None
    if not math.isfinite(alpha):
        raise CheckpointError(where, f"lora_alpha must be finite; got {alpha!r}.")
    return alpha / (math.sqrt(rank) if rslora else rank)


def _finite(ckpt: Checkpoint, key: str, tensor: torch.Tensor, layout: str) -> torch.Tensor:
    if not torch.isfinite(tensor).all():
        raise CheckpointError(ckpt.path, f"{key} holds NaN or infinite values; the file is "
                                         "damaged or was saved from a diverged training run.",
                              layout=layout)
    return tensor


def read_lora(model: nn.Module, path, strength: float = 1.0) -> dict[str, LoraDelta]:
    """Module name -> delta for every adapter pair of the file that fits the model (a
    NewBieTransformer, or any module with the official NextDiT names)."""
    path = Path(path)
    file, config = _files(path)
    ckpt = Checkpoint.open(file)
    pairs, layout = _pairs(ckpt)
    # Trainers often save text-encoder adapters in the same file: those are skipped.
    text_encoder = {raw for raw in pairs if any(h in raw.lower() for h in _TEXT_ENCODER_HINTS)}
    skipped_keys = sum(len(pairs.pop(raw)) for raw in text_encoder)
    if text_encoder and not pairs:
        raise CheckpointError(ckpt.path, "this LoRA targets only the text encoders; NewBie "
                                         "LoRAs apply to the transformer.", layout=layout)
    if text_encoder:
        log.warning("NewBie LoRA %s: skipped %d text-encoder keys (%d adapters, e.g. %s): "
                    "NewBie LoRAs apply to the transformer; the text encoders are not "
                    "patched", ckpt.path.name, skipped_keys, len(text_encoder),
                    sorted(text_encoder)[0])
    modules = _module_names(model)
    weights = dict(model.named_parameters())
    deltas, unmapped = {}, []
    qkv_parts: dict[str, dict[str, LoraDelta]] = {}
    metadata = ckpt.metadata()
    for raw, parts in pairs.items():
        qkv = _qkv_part(raw, modules)
        target = qkv[0] if qkv else _resolve(raw, modules)
        if target is None or "down" not in parts or "up" not in parts:
            unmapped.append(raw)
            continue
        down = _finite(ckpt, parts["down"], ckpt.tensor(parts["down"], torch.float32), layout)
        up = _finite(ckpt, parts["up"], ckpt.tensor(parts["up"], torch.float32), layout)
        if down.dim() != 2 or up.dim() != 2:
            raise CheckpointError(ckpt.path, f"{raw}: LoRA down and up must be matrices; got "
                                             f"shapes {list(down.shape)} and {list(up.shape)}.",
                                  layout=layout)
        rank = down.shape[0]
        if rank == 0:
            raise CheckpointError(ckpt.path, f"{raw}: the LoRA has rank 0 (no adapter rows).",
                                  layout=layout)
        base = weights[target + ".weight"]
        if up.shape[1] != rank or down.shape[1] != base.shape[1] or (
                not qkv and up.shape[0] != base.shape[0]):
            raise CheckpointError(ckpt.path, f"{raw}: LoRA shapes down {list(down.shape)} / up "
                                             f"{list(up.shape)} do not fit {target} "
                                             f"{list(base.shape)}.", layout=layout)
        if "alpha" in parts:
            alpha = _finite(ckpt, parts["alpha"], ckpt.tensor(parts["alpha"], torch.float32),
                            layout)
            if alpha.numel() != 1:
                raise CheckpointError(ckpt.path, f"{parts['alpha']}: alpha must be one number; "
                                                 f"got shape {list(alpha.shape)}.", layout=layout)
            scale = float(alpha) / rank
        elif layout == "PEFT adapter":
            scale = _peft_scale(config, metadata, rank, file.parent / CONFIG_FILE)
        else:
            scale = 1.0
        if qkv:
            qkv_parts.setdefault(target, {})[qkv[1]] = LoraDelta(down, up, strength * scale)
        else:
            deltas[target] = LoraDelta(down, up, strength * scale)
    for target, parts in qkv_parts.items():
        try:
            deltas[target] = _fuse_qkv(model, parts)
        except ValueError as err:
            raise CheckpointError(ckpt.path, f"{target}: {err}.", layout=layout) from None
    if not deltas:
        raise CheckpointError(ckpt.path, "no LoRA key maps to the NewBie transformer; is it "
                                         "a LoRA for another model?", layout=layout,
                              unexpected=unmapped or ckpt.keys())
    if unmapped:
        log.warning("NewBie LoRA %s: %d of %d adapters applied; not mapped: %s", ckpt.path.name,
                    len(deltas), len(deltas) + len(unmapped), ", ".join(unmapped[:5]))
    return deltas


def apply_lora(model: NewBieTransformer, path, strength: float = 1.0) -> NewBieTransformer:
    """A new model with the LoRA at `path` (PEFT folder or .safetensors) merged into its
    weights; unpatched weights are shared, and `model` itself stays exactly as it was."""
    tensors = dict(model.state_dict())
    for module, delta in read_lora(model, path, strength).items():
        weight = tensors[module + ".weight"]
        patch = delta.scale * (delta.up.float() @ delta.down.float())
        tensors[module + ".weight"] = (weight.float() + patch).to(weight.dtype)
    config = {k: v for k, v in model.config.items() if not k.startswith("_")}
    merged = NewBieTransformer.from_state_dict(tensors, config=config)
    merged.set_attention_backend(model.attention_backend)
    return merged.to(next(model.parameters()).device)
