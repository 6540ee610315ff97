"""Tiny random-weight checkpoints with the real key names, shapes and layouts.

Key lists here are written out by hand from the official checkpoint's key names on
purpose (not read off the pack's modules), so a naming slip in the pack cannot pass
unnoticed.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

# dim 96, 4 heads of 24 (axes 8/8/8), 2 KV heads, FFN 384, caption 32, CLIP 16.
TINY = dict(dim=96, n_layers=2, n_refiner=1, n_heads=4, n_kv=2, head_dim=24, ffn=384,
            cap=32, clip=16, patch=2, channels=16)


def official_dit_shapes(cfg=TINY, clip=True) -> dict[str, tuple[int, ...]]:
    d, hd, t = cfg["dim"], cfg["head_dim"], min(cfg["dim"], 1024)
    patch_dim = cfg["patch"] ** 2 * cfg["channels"]
    qkv_rows = (cfg["n_heads"] + 2 * cfg["n_kv"]) * hd
    shapes = {
        "x_embedder.weight": (d, patch_dim), "x_embedder.bias": (d,),
        "t_embedder.mlp.0.weight": (t, 256), "t_embedder.mlp.0.bias": (t,),
        "t_embedder.mlp.2.weight": (t, t), "t_embedder.mlp.2.bias": (t,),
        "cap_embedder.0.weight": (cfg["cap"],), "cap_embedder.1.weight": (d, cfg["cap"]),
        "cap_embedder.1.bias": (d,),
        "norm_final.weight": (d,),
        "final_layer.linear.weight": (patch_dim, d), "final_layer.linear.bias": (patch_dim,),
        "final_layer.adaLN_modulation.1.weight": (d, t),
        "final_layer.adaLN_modulation.1.bias": (d,),
    }
    if clip:
        c = cfg["clip"]
        shapes.update({"clip_text_pooled_proj.0.weight": (c,),
                       "clip_text_pooled_proj.1.weight": (c, c),
                       "clip_text_pooled_proj.1.bias": (c,),
                       "time_text_embed.1.weight": (t, t + c), "time_text_embed.1.bias": (t,)})
    blocks = ([f"noise_refiner.{i}" for i in range(cfg["n_refiner"])]
              + [f"layers.{i}" for i in range(cfg["n_layers"])])
    for name in blocks + [f"context_refiner.{i}" for i in range(cfg["n_refiner"])]:
        shapes.update({
            f"{name}.attention.qkv.weight": (qkv_rows, d),
            f"{name}.attention.out.weight": (d, cfg["n_heads"] * hd),
            f"{name}.attention.q_norm.weight": (hd,), f"{name}.attention.k_norm.weight": (hd,),
            f"{name}.feed_forward.w1.weight": (cfg["ffn"], d),
            f"{name}.feed_forward.w3.weight": (cfg["ffn"], d),
            f"{name}.feed_forward.w2.weight": (d, cfg["ffn"]),
            **{f"{name}.{n}.weight": (d,) for n in ("attention_norm1", "attention_norm2",
                                                     "ffn_norm1", "ffn_norm2")},
        })
        if name in blocks:
            shapes[f"{name}.adaLN_modulation.1.weight"] = (4 * d, t)
            shapes[f"{name}.adaLN_modulation.1.bias"] = (4 * d,)
    return shapes


def random_tensors(shapes: dict, seed: int = 0, std: float = 0.1,
                   dtype=torch.float32) -> dict[str, torch.Tensor]:
    """Norm weights near 1, everything else N(0, std): large enough that t and the
    pooled vector visibly move the output."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in shapes.items():
        t = torch.randn(shape, generator=gen) * std
        if "norm" in key and len(shape) == 1:
            t = 1.0 + t
        out[key] = t.to(dtype)
    return out


def official_dit(seed: int = 0, clip: bool = True, dtype=torch.float32):
    return random_tensors(official_dit_shapes(clip=clip), seed=seed, dtype=dtype)


def real_width_dit() -> dict:
    """A NewBie transformer at the real width (core detects NewBie by dim 2304 and the
    pooled path) with one main block and two refiners each, in bfloat16."""
    real = dict(dim=2304, n_layers=1, n_refiner=2, n_heads=24, n_kv=8, head_dim=96, ffn=9216,
                cap=2560, clip=1024, patch=2, channels=16)
    return random_tensors(official_dit_shapes(real), seed=0, std=0.02, dtype=torch.bfloat16)


def write_safetensors(path: Path, tensors: dict, metadata: dict | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=metadata)
    return path


def write_hf_transformer_folder(root: Path, tensors: dict) -> Path:
    """The official HF repo layout: transformer/{config.json, diffusion_pytorch_model.safetensors}."""
    folder = root / "transformer"
    write_safetensors(folder / "diffusion_pytorch_model.safetensors", tensors)
    (folder / "config.json").write_text(json.dumps({
        "_class_name": "NextDiT_3B_GQA_patch2_Adaln_Refiner_WHIT_CLIP",
        "dim": TINY["dim"], "n_layers": TINY["n_layers"], "cap_feat_dim": TINY["cap"]}))
    (root / "model_index.json").write_text(json.dumps({
        "_class_name": "NewbiePipeline",
        "transformer": ["transformer", "NextDiT_3B_GQA_patch2_Adaln_Refiner_WHIT_CLIP"]}))
    return root


def diffusers_lumina2(seed: int = 0):
    """A tiny diffusers Lumina2Transformer2DModel with random weights (real diffusers names)."""
    from diffusers import Lumina2Transformer2DModel

    torch.manual_seed(seed)
    model = Lumina2Transformer2DModel(
        hidden_size=TINY["dim"], num_layers=TINY["n_layers"], num_refiner_layers=TINY["n_refiner"],
        num_attention_heads=TINY["n_heads"], num_kv_heads=TINY["n_kv"], multiple_of=32,
        axes_dim_rope=(8, 8, 8), cap_feat_dim=TINY["cap"], sample_size=16, norm_eps=1e-5)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(random_tensors({name: tuple(p.shape)}, seed=seed + len(name))[name])
    return model.eval()


def write_diffusers_port_folder(root: Path, model, clip_tensors: dict | None) -> Path:
    """The diffusers-port layout: Lumina2 names plus the NewBie pooled-CLIP keys."""
    tensors = dict(model.state_dict())
    for key, value in (clip_tensors or {}).items():
        tensors["time_caption_embed." + key] = value
    folder = root / "transformer"
    write_safetensors(folder / "diffusion_pytorch_model.safetensors", tensors)
    (folder / "config.json").write_text(json.dumps({"_class_name": "Lumina2Transformer2DModel",
                                                    **dict(model.config)}, default=list))
    return root
