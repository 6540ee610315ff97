"""Our text encoders as a ComfyUI CLIP, so core CLIPTextEncode and other packs' text
nodes take them. Core's CLIP encodes the text as given for both towers (no system
prompt, no Gemma cut), as core's own NewBie CLIP does; its tokens have core's NewBie
layout, {"gemma": [[(id, weight), ...]], "jina": [...]}. NewBie Text Encode uses the
library directly and keeps the official routing."""
from __future__ import annotations

import torch

from ..newbie.models.text_encoders import pad_rows
from .memory import ComfyResident, Resident

NO_CUT = 1 << 30


class NewBieClipTokenizer:
    def __init__(self, encoders):
        self.encoders = encoders

    def tokenize_with_weights(self, text: str, return_word_ids: bool = False, **kwargs):
        (g_ids, g_mask), (j_ids, j_mask), _ = self.encoders.tokenize([text], None, NO_CUT)
        rows = {"gemma": g_ids[0][g_mask[0]].tolist(), "jina": j_ids[0][j_mask[0]].tolist()}
        return {name: [[(t, 1.0, 0) if return_word_ids else (t, 1.0) for t in ids]]
                for name, ids in rows.items()}

    def untokenize(self, token_weight_pair):
        raise NotImplementedError

    def state_dict(self):
        return {}


class NewBieClipModel(ComfyResident):
    """The module ComfyUI's CLIP calls (`encode_token_weights`), around our encoders."""

    def reset_clip_options(self):
        pass

    def set_clip_options(self, options):
        pass

    def encode_token_weights(self, tokens):
        encoders = self.newbie
        gemma = [[t[0] for t in batch] for batch in tokens["gemma"]]
        jina = [[t[0] for t in batch] for batch in tokens["jina"]]
        feats, mask, pooled = encoders.encode_tokens(
            pad_rows(gemma, encoders.gemma_tokenizer.pad_id),
            pad_rows(jina, encoders.jina_tokenizer.pad_id))
        return feats, pooled, {"attention_mask": mask.long()}


def newbie_clip(encoders: torch.nn.Module, compute: bool, sources: dict):
    """A ComfyUI CLIP over our encoders; `.newbie` is the Resident NewBie Text Encode
    uses (the same ModelPatcher)."""
    import comfy.sd

    resident = Resident(encoders, compute=compute, sources=sources, wrapper=NewBieClipModel)
    clip = comfy.sd.CLIP(no_init=True)
    clip.newbie = resident
    clip.patcher = resident.patcher
    clip.cond_stage_model = resident.patcher.model
    clip.tokenizer = NewBieClipTokenizer(encoders)
    clip.layer_idx = None
    clip.tokenizer_options = {}
    clip.use_clip_schedule = False
    clip.apply_hooks_to_conds = None
    return clip
