"""The two text encoders NewBie is conditioned on, on transformers' own models.

- Gemma 3 (text tower only): the penultimate hidden state. The model is built
  one layer short with no final norm, so its output *is* `hidden_states[-2]`
  and the last layer is never read from disk.
- Jina CLIP v2 text tower as `JinaEmbeddingsV3Model`: attention-masked mean of
  the last hidden state over all real tokens (incl. <s> and </s>), 1024-d, not
  normalised.

Sizes come from the tensors; every other hyperparameter is the released model's.
"""
from __future__ import annotations

import logging

import torch
from torch import nn
from transformers import (Gemma3TextConfig, Gemma3TextModel, JinaEmbeddingsV3Config,
                          JinaEmbeddingsV3Model)
from transformers.models.gemma3.modeling_gemma3 import Gemma3RotaryEmbedding
from transformers.models.jina_embeddings_v3.modeling_jina_embeddings_v3 import (
    JinaEmbeddingsV3RotaryEmbedding)

from ..prompt.system import GEMMA_MAX_TOKENS, tower_texts
from .tokenizers import TextTokenizer

log = logging.getLogger(__name__)
JINA_MAX_TOKENS = 2048
GEMMA_PAD_MULTIPLE = 8
GEMMA_GLOBAL_EVERY = 6  # every 6th layer attends globally, the rest in a 1024 window


def gemma_config(vocab: int, hidden: int, layers: int, heads: int, kv_heads: int,
                 head_dim: int, intermediate: int) -> Gemma3TextConfig:
    """Gemma 3 4B hyperparameters around the sizes read from a checkpoint."""
    types = ["full_attention" if (i + 1) % GEMMA_GLOBAL_EVERY == 0 else "sliding_attention"
             for i in range(layers)]
    return Gemma3TextConfig(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=intermediate,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
        head_dim=head_dim, hidden_activation="gelu_pytorch_tanh", rms_norm_eps=1e-6,
        query_pre_attn_scalar=256, sliding_window=1024, layer_types=types,
        max_position_embeddings=131072, pad_token_id=0, bos_token_id=2, eos_token_id=1,
        rope_parameters={
            "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1e6},
            "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}})


def jina_config(vocab: int, hidden: int, layers: int, intermediate: int) -> JinaEmbeddingsV3Config:
    """Jina CLIP v2 text tower hyperparameters (64-wide heads, RoPE 20000, post-LN)."""
    return JinaEmbeddingsV3Config(
        vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=hidden // 64 if hidden >= 64 else 1, intermediate_size=intermediate,
        hidden_act="gelu", layer_norm_eps=1e-5, type_vocab_size=1, pad_token_id=1,
        bos_token_id=0, eos_token_id=2, max_position_embeddings=8194,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        rope_parameters={"rope_type": "default", "rope_theta": 20000.0})


def build_penultimate_gemma(config: Gemma3TextConfig, tensors: dict, dtype) -> Gemma3TextModel:
    """Gemma up to layer L-2 (config has all L layers); `tensors` without layer L-1."""
    short = config.to_dict()
    short.update(num_hidden_layers=config.num_hidden_layers - 1,
                 layer_types=config.layer_types[:-1])
    short = Gemma3TextConfig(**short)
    with torch.device("meta"):
        model = Gemma3TextModel(short)
    model.norm = nn.Identity()
    model.load_state_dict(_cast(tensors, dtype), strict=True, assign=True)
    # Non-persistent buffers stay on meta after assign: rebuild them (RoPE in float32).
    model.rotary_emb = Gemma3RotaryEmbedding(short)
    model.embed_tokens.embed_scale = torch.tensor(short.hidden_size ** 0.5)
    return model.eval().requires_grad_(False)


def build_jina(config: JinaEmbeddingsV3Config, tensors: dict, dtype) -> JinaEmbeddingsV3Model:
    with torch.device("meta"):
        model = JinaEmbeddingsV3Model(config, add_pooling_layer=False)
    model.load_state_dict(_cast(tensors, dtype), strict=True, assign=True)
    model.rotary_emb = JinaEmbeddingsV3RotaryEmbedding(config)
    n = config.max_position_embeddings
    model.embeddings.position_ids = torch.arange(n).expand(1, -1)
    model.embeddings.token_type_ids = torch.zeros(1, n, dtype=torch.long)
    return model.eval().requires_grad_(False)


def _cast(tensors: dict, dtype) -> dict:
    return {k: v.to(dtype) if v.is_floating_point() and v.dtype != dtype else v
            for k, v in tensors.items()}


def pad_rows(rows: list[list[int]], pad_id: int, multiple: int = 1):
    length = max(len(r) for r in rows)
    length = -(-length // multiple) * multiple
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    mask = torch.zeros(len(rows), length, dtype=torch.bool)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, :len(r)] = True
    return ids, mask


class NewBieTextEncoders(nn.Module):
    """Gemma 3 + Jina CLIP v2 -> (cap_feats [B,L,2560], cap_mask [B,L], clip_pooled [B,1024])."""

    def __init__(self, gemma: Gemma3TextModel, gemma_tokenizer: TextTokenizer,
                 jina: JinaEmbeddingsV3Model, jina_tokenizer: TextTokenizer,
                 gemma_max_tokens: int = GEMMA_MAX_TOKENS, jina_max_tokens: int = JINA_MAX_TOKENS):
        super().__init__()
        self.gemma, self.jina = gemma, jina
        self.gemma_tokenizer, self.jina_tokenizer = gemma_tokenizer, jina_tokenizer
        self.gemma_max_tokens, self.jina_max_tokens = gemma_max_tokens, jina_max_tokens

    @property
    def device(self) -> torch.device:
        return self.gemma.embed_tokens.weight.device

    def gemma_ids(self, text: str) -> list[int]:
        """Gemma's token ids of `text` (BOS first), before any cut."""
        return self.gemma_tokenizer.ids(text)

    def jina_ids(self, text: str) -> list[int]:
        """Jina's token ids of `text`, cut at its limit with </s> kept last, as the HF
        tokenizer does."""
        ids = self.jina_tokenizer.ids(text)
        return ids if len(ids) <= self.jina_max_tokens else ids[:self.jina_max_tokens - 1] + ids[-1:]

    def tokenize(self, prompts: list[str], system_prompt: str | None = None,
                 gemma_max_tokens: int | None = None) -> tuple[list, list]:
        """Token rows of both towers (Gemma: system prompt + prompt, cut; Jina: the
        prompt alone)."""
        limit = gemma_max_tokens or self.gemma_max_tokens
        texts = [tower_texts(p, system_prompt) for p in prompts]
        gemma_rows = [self.gemma_ids(gemma) for gemma, _ in texts]
        truncated = sum(len(r) > limit for r in gemma_rows)
        if truncated:
            log.warning("NewBie: %d prompt(s) longer than %d Gemma tokens (longest %d) were "
                        "truncated, as in training", truncated, limit,
                        max(len(r) for r in gemma_rows))
        return [r[:limit] for r in gemma_rows], [self.jina_ids(jina) for _, jina in texts]

    @torch.no_grad()
    def encode(self, prompts, system_prompt: str | None = None,
               gemma_max_tokens: int | None = None):
        """Gemma sees system_prompt + prompt; Jina sees the prompt alone."""
        if isinstance(prompts, str):
            prompts = [prompts]
        return self.encode_rows(*self.tokenize(list(prompts), system_prompt, gemma_max_tokens))

    @torch.no_grad()
    def encode_rows(self, gemma_rows: list[list[int]], jina_rows: list[list[int]]):
        """`encode` from token rows: right-padded (Gemma to a multiple of 8), masked."""
        (g_ids, g_mask) = pad_rows(gemma_rows, self.gemma_tokenizer.pad_id, GEMMA_PAD_MULTIPLE)
        (j_ids, j_mask) = pad_rows(jina_rows, self.jina_tokenizer.pad_id)
        device = self.device
        jina_device = self.jina.embeddings.word_embeddings.weight.device
        g_mask, j_mask = g_mask.to(device), j_mask.to(jina_device)
        cap_feats = self.gemma(input_ids=g_ids.to(device),
                               attention_mask=g_mask.long()).last_hidden_state
        hidden = self.jina(input_ids=j_ids.to(j_mask.device),
                           attention_mask=j_mask.long()).last_hidden_state.float()
        weights = j_mask[..., None].float()
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp_min(1.0)
        return cap_feats, g_mask, pooled.to(cap_feats.dtype)
