"""NewBie's text encoders as a ComfyUI CLIP, and the one encode path every NewBie CLIP
takes, ours or core's (DualCLIPLoader type newbie, ComfyUI 0.5+).

Our CLIP is built by ComfyUI's own constructor, so `clone()` and every core node that
clones it (LoRA loaders, device selection, hooks) keep what NewBie Text Encode needs:
its tokenizer has core's NewBie layout (`.gemma` and `.jina`, tokens
{"gemma": [[(id, weight), ...]], "jina": [...]}), its module encodes those tokens.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch

import comfy.model_management as mm
import comfy.sd
import comfy.supported_models_base

from ..newbie.loading import load_text_encoders
from ..newbie.models.finite import non_finite_cause as weights_cause
from ..newbie.models.text_encoders import NewBieTextEncoders
from ..newbie.prompt import tower_texts
from . import quantized
from .memory import out_of_memory, reloads_with

log = logging.getLogger(__name__)

TOKENIZERS = "newbie_tokenizers"  # the tokenizer_data key our tokenizer is built from


class TowerTokenizer:
    """One tower's tokenizer with the call core's sub-tokenizers have."""

    def __init__(self, ids):
        self.ids = ids

    def tokenize_with_weights(self, text: str, return_word_ids: bool = False, **kwargs):
        return [[(t, 1.0, 0) if return_word_ids else (t, 1.0) for t in self.ids(text)]]


class NewBieClipTokenizer:
    """Both towers' tokenizers in core's NewBie layout; each sees the text as given."""

    def __init__(self, embedding_directory=None, tokenizer_data=None):
        encoders: NewBieTextEncoders = (tokenizer_data or {})[TOKENIZERS]
        self.gemma = TowerTokenizer(encoders.gemma_ids)
        self.jina = TowerTokenizer(encoders.jina_ids)

    def tokenize_with_weights(self, text: str, return_word_ids: bool = False, **kwargs):
        return {"gemma": self.gemma.tokenize_with_weights(text, return_word_ids),
                "jina": self.jina.tokenize_with_weights(text, return_word_ids)}

    def untokenize(self, token_weight_pair):
        raise NotImplementedError

    def state_dict(self):
        return {}


class NewBieClipModel(torch.nn.Module):
    """The module the CLIP's ModelPatcher manages: our encoders inside a plain module
    (diffusers' read-only `device` would refuse the patcher's bookkeeping), and the
    files they came from, to name a damaged one."""

    # ComfyUI's plain ModelPatcher under 0.33's dynamic VRAM: the transformers layers
    # inside are not ComfyUI operations, which the dynamic patcher's casting needs.
    disable_offload = True

    def __init__(self, encoders: NewBieTextEncoders, sources: dict[str, Path], device=None,
                 dtype=None, model_options=None):
        super().__init__()
        self.encoders = encoders
        self.sources = dict(sources)
        self.dtypes = {next(encoders.parameters()).dtype}
        self.device = next(encoders.parameters()).device

    def get_dtype(self) -> torch.dtype:  # what ComfyUI's patcher reports as model_dtype()
        return next(self.encoders.parameters()).dtype

    def reset_clip_options(self):
        pass

    def set_clip_options(self, options):
        pass

    def encode_token_weights(self, tokens):
        rows = {tower: [[t[0] for t in batch] for batch in tokens[tower]]
                for tower in ("gemma", "jina")}
        feats, mask, pooled = self.encoders.encode_rows(rows["gemma"], rows["jina"])
        length = int(mask.sum(1).max())  # the padding the forward needed, trimmed off
        out = mm.intermediate_device()
        return (feats[:, :length].to(out), pooled.to(out),
                {"attention_mask": mask[:, :length].long().to(out)})


def load_clip(gemma: Path, jina: Path, dtype: torch.dtype, on_cpu: bool,
              fp8: str | None = None, disable_dynamic: bool = False):
    """Our CLIP from the two files (every layout the library reads), computing in
    `dtype`, with its Linear weights stored in the `fp8` format when given, with its
    reload factory, so core can re-create it (deep clones for another device)."""
    encoders = load_text_encoders(gemma, jina, dtype=dtype)
    if fp8:
        changed = quantized.linears_in_fp8(encoders, dtype, fp8)
        log.info("NewBie text encoders: %d linear layers stored as %s", changed, fp8)
    clip = newbie_clip(encoders, {"gemma": gemma, "jina": jina}, on_cpu)
    reloads_with(clip.patcher, load_clip_patcher, gemma, jina, dtype, on_cpu, fp8)
    return clip


def load_clip_patcher(gemma: Path, jina: Path, dtype: torch.dtype, on_cpu: bool,
                      fp8: str | None = None, disable_dynamic: bool = False):
    return load_clip(gemma, jina, dtype, on_cpu, fp8).patcher


def newbie_clip(encoders: NewBieTextEncoders, sources: dict[str, Path], on_cpu: bool):
    """A ComfyUI CLIP over loaded encoders. The weights stay where they are (memory-mapped
    on the CPU) until ComfyUI loads them to encode; `on_cpu` keeps them off the card."""
    target = comfy.supported_models_base.ClipTarget(NewBieClipTokenizer, NewBieClipModel)
    target.params = {"encoders": encoders, "sources": sources}
    offload = mm.text_encoder_offload_device()
    load = torch.device("cpu") if on_cpu else mm.text_encoder_device()
    dtype = next(encoders.parameters()).dtype
    return comfy.sd.CLIP(target=target, tokenizer_data={TOKENIZERS: encoders},
                         parameters=sum(p.numel() for p in encoders.parameters()),
                         model_options={"load_device": load, "offload_device": offload,
                                        "initial_device": offload, "dtype": dtype})


def load_whole(clip) -> None:
    """Our encoders onto the compute device in one piece. ComfyUI would load a part of a
    model that does not fit and stream the rest layer by layer, which only its own layer
    operations can do; the transformers layers inside ours cannot, so they go whole
    (ComfyUI frees the room first, evicting other models)."""
    mm.load_models_gpu([clip.patcher], force_full_load=True)


def is_newbie_clip(clip) -> bool:
    tokenizer = getattr(clip, "tokenizer", None)
    return hasattr(clip, "encode_from_tokens") and hasattr(tokenizer, "gemma") \
        and hasattr(tokenizer, "jina")


def describe(clip) -> str:
    inner = getattr(clip, "cond_stage_model", None)
    return type(inner).__name__ if inner is not None else type(clip).__name__


def encode(clip, text: str, system_prompt: str | None, max_tokens: int) -> tuple[list, int]:
    """CONDITIONING for one prompt with the official routing (Gemma gets system prompt +
    prompt, cut at max_tokens; Jina the prompt alone; each tower tokenized once), through
    core's scheduled encode as CLIPTextEncode (so CLIP hooks apply), and Gemma's token
    count before the cut."""
    gemma, jina = tower_texts(text, system_prompt)
    options = {"tokenizer_options": clip.tokenizer_options} if clip.tokenizer_options else {}
    gemma_tokens = clip.tokenizer.gemma.tokenize_with_weights(gemma, **options)
    tokens = {"gemma": [batch[:max_tokens] for batch in gemma_tokens],
              "jina": clip.tokenizer.jina.tokenize_with_weights(jina, **options)}
    try:
        if isinstance(clip.cond_stage_model, NewBieClipModel):
            load_whole(clip)
        conditioning = clip.encode_from_tokens_scheduled(tokens)
    except torch.OutOfMemoryError:
        raise out_of_memory("encoding the prompt", "the text encoders' dtype (bfloat16), or "
                            "set their device to cpu on Load NewBie Text Encoders") from None
    return conditioning, sum(len(batch) for batch in gemma_tokens)


def non_finite_cause(clip, fix: str) -> str:
    """Why the encoders' output is NaN/Inf; reads every weight, so only after a failure."""
    module = clip.cond_stage_model
    if isinstance(module, NewBieClipModel):
        module, sources = module.encoders, module.sources
    else:
        sources = {}
    return weights_cause(module, sources, next(module.parameters()).dtype, fix)
