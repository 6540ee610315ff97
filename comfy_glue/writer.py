"""Gemma writing prompts from our CLIP: the encoder ComfyUI holds, completed with the last
layer and norm read from the same file (kept per loaded encoder, in a weak map), with
ComfyUI's progress bar and cancel."""
from __future__ import annotations

import weakref

import torch

import comfy.model_management as mm
import comfy.utils

from ..newbie.loading import load_gemma_head
from ..newbie.models.text_encoders import NewBieTextEncoders
from ..newbie.models.writer import PromptWriter
from .clip import NewBieClipModel, is_newbie_clip, load_whole
from .memory import out_of_memory

_WRITERS: weakref.WeakKeyDictionary[NewBieTextEncoders, PromptWriter] = \
    weakref.WeakKeyDictionary()


def writer_for(clip) -> PromptWriter:
    """The writer over this CLIP's Gemma; ValueError for a CLIP that cannot write."""
    module = getattr(clip, "cond_stage_model", None)
    if not isinstance(module, NewBieClipModel):
        why = ("core's NewBie CLIP has no text generation" if is_newbie_clip(clip)
               else f"got a CLIP of {type(module).__name__}")
        raise ValueError("NewBie Prompt Writer needs the CLIP of Load NewBie Text Encoders "
                         f"(it completes that Gemma with the layer the encoder leaves out); {why}")
    encoders = module.encoders
    if encoders not in _WRITERS:
        gemma = module.sources.get("gemma")
        if gemma is None:
            raise ValueError("NewBie Prompt Writer: this CLIP does not say which Gemma file it "
                             "came from; load it with Load NewBie Text Encoders")
        n_layers, head = load_gemma_head(gemma, encoders.gemma.embed_tokens.weight.dtype)
        _WRITERS[encoders] = PromptWriter(encoders.gemma, encoders.gemma_tokenizer, n_layers,
                                          head)
    return _WRITERS[encoders]


def write(clip, request: str, system: str, max_tokens: int, temperature: float, top_k: int,
          seed: int, constrained: bool) -> tuple[str, int]:
    """(the text, tokens written) with ComfyUI's progress bar; cancel stops it."""
    writer = writer_for(clip)
    bar = comfy.utils.ProgressBar(max_tokens)

    def progress(step: int, total: int) -> None:
        mm.throw_exception_if_processing_interrupted()
        bar.update_absolute(step, total)

    try:
        load_whole(clip)  # the shared layers on the compute device, by ComfyUI
        writer.lm.model.layers[-1].to(writer.lm.model.embed_tokens.weight.device)
        writer.lm.model.norm.to(writer.lm.model.embed_tokens.weight.device)
        ids, text = writer.generate(writer.chat_ids(request, system), max_tokens,
                                    temperature=temperature, top_k=top_k, seed=seed,
                                    constrained=constrained, progress=progress)
    except torch.OutOfMemoryError:
        raise out_of_memory("writing the prompt", "fewer max_tokens, or the text encoders' "
                            "device set to cpu") from None
    return text, len(ids)
