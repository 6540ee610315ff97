"""The NewBie Next-DiT config read off the official state-dict keys and shapes.

Sizes come from the tensors; everything else (theta, eps, axes_lens) is the
released model's.
"""
from __future__ import annotations

import math

from ..errors import NewBieError
from .state_dict import count_numbered

REQUIRED_KEYS = ("x_embedder.weight", "t_embedder.mlp.0.weight", "cap_embedder.1.weight",
                 "layers.0.attention.qkv.weight", "layers.0.attention.out.weight",
                 "layers.0.attention.q_norm.weight", "layers.0.feed_forward.w1.weight",
                 "final_layer.linear.weight")
IN_CHANNELS = 16


class ConfigInferenceError(NewBieError, ValueError):
    pass


def infer_config(shapes: dict[str, tuple[int, ...]]) -> dict:
    missing = [k for k in REQUIRED_KEYS if k not in shapes]
    if missing:
        raise ConfigInferenceError(f"missing {', '.join(missing)}")
    dim, cap_feat_dim = shapes["cap_embedder.1.weight"]
    head_dim = shapes["layers.0.attention.q_norm.weight"][0]
    n_heads = shapes["layers.0.attention.out.weight"][1] // head_dim
    qkv_heads = shapes["layers.0.attention.qkv.weight"][0] // head_dim
    n_kv_heads = (qkv_heads - n_heads) // 2
    patch_dim = shapes["x_embedder.weight"][1]
    patch_size = math.isqrt(patch_dim // IN_CHANNELS)
    if patch_size * patch_size * IN_CHANNELS != patch_dim:
        raise ConfigInferenceError(f"x_embedder takes {patch_dim} values a token; expected "
                                   f"patch² × {IN_CHANNELS} latent channels")
    if head_dim % 6:
        raise ConfigInferenceError(f"head_dim {head_dim} does not split into 3 even RoPE axes")
    if n_kv_heads < 1 or n_heads % n_kv_heads or dim != n_heads * head_dim:
        raise ConfigInferenceError(f"inconsistent heads: dim {dim}, head_dim {head_dim}, "
                                   f"{n_heads} query heads, {n_kv_heads} KV heads")
    clip = shapes.get("clip_text_pooled_proj.0.weight")
    return {
        "patch_size": patch_size,
        "in_channels": IN_CHANNELS,
        "dim": dim,
        "n_layers": count_numbered(shapes, "layers."),
        "n_refiner_layers": count_numbered(shapes, "noise_refiner."),
        "n_heads": n_heads,
        "n_kv_heads": n_kv_heads,
        "ffn_hidden": shapes["layers.0.feed_forward.w1.weight"][0],
        "cap_feat_dim": cap_feat_dim,
        "clip_text_dim": clip[0] if clip else None,
        "axes_dims": (head_dim // 3,) * 3,
        "axes_lens": (1024, 512, 512),
        "rope_theta": 10000.0,
        "norm_eps": 1e-5,
        "qk_norm_eps": 1e-5,
    }

