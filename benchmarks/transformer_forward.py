"""Transformer forward: ours against ComfyUI 0.3.75's Lumina2 NextDiT (the test
host's code) and diffusers' Lumina2Transformer2DModel, the same random weights.

Config: dim 768, 12 heads (64 wide), 4 KV heads, 8 layers (+2+2 refiners),
latent 64x64 (1024 image tokens), 256 caption tokens with padding in the second
sample, batch 2 as for CFG. The pooled-CLIP path is off in all three (ComfyUI
0.3.75 and diffusers have none). Runs alternate; medians of ROUNDS after warm-up.

    bash scripts/bench.sh transformer_forward [--rounds 5] [--dtypes bfloat16,float32]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from devtools.comfy_host import comfy_in_process
from newbie.loading.transformer import diffusers_to_official
from newbie.models import NewBieTransformer

CONFIG = dict(dim=768, n_heads=12, n_kv_heads=4, n_layers=8, n_refiner_layers=2,
              cap_feat_dim=2560, axes_dims=(16, 24, 24), multiple_of=256)
LATENT, CAPTION, VALID_SECOND = 64, 256, 200


def comfy_nextdit():
    comfy_in_process()
    import comfy.ops
    from comfy.ldm.lumina.model import NextDiT
    c = CONFIG
    return NextDiT(patch_size=2, in_channels=16, dim=c["dim"], n_layers=c["n_layers"],
                   n_refiner_layers=c["n_refiner_layers"], n_heads=c["n_heads"],
                   n_kv_heads=c["n_kv_heads"], multiple_of=c["multiple_of"],
                   ffn_dim_multiplier=4.0, norm_eps=1e-5, qk_norm=True,
                   cap_feat_dim=c["cap_feat_dim"], axes_dims=list(c["axes_dims"]),
                   axes_lens=[1024, 512, 512], rope_theta=10000.0,
                   operations=comfy.ops.disable_weight_init)


def diffusers_lumina2():
    from diffusers import Lumina2Transformer2DModel
    c = CONFIG
    return Lumina2Transformer2DModel(
        hidden_size=c["dim"], num_layers=c["n_layers"], num_refiner_layers=c["n_refiner_layers"],
        num_attention_heads=c["n_heads"], num_kv_heads=c["n_kv_heads"],
        multiple_of=c["multiple_of"], axes_dim_rope=c["axes_dims"], cap_feat_dim=c["cap_feat_dim"],
        sample_size=LATENT, norm_eps=1e-5)


def build(dtype):
    torch.manual_seed(0)
    theirs = diffusers_lumina2().eval()
    with torch.no_grad():
        for p in theirs.parameters():
            p.normal_(0, 0.02)
    official = diffusers_to_official(list(theirs.state_dict()), theirs.state_dict().__getitem__)
    ours = NewBieTransformer.from_state_dict(
        official, config={**CONFIG, "clip_text_dim": None, "qk_norm_eps": 1e-5})
    comfy = comfy_nextdit().eval()
    comfy.load_state_dict({**official, "norm_final.weight": torch.ones(CONFIG["dim"])})
    return {k: m.to(dtype).requires_grad_(False) for k, m in
            {"ours": ours, "comfyui": comfy, "diffusers": theirs}.items()}


def inputs(dtype):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 16, LATENT, LATENT, generator=gen).to(dtype)
    cap = torch.randn(2, CAPTION, CONFIG["cap_feat_dim"], generator=gen).to(dtype)
    mask = torch.ones(2, CAPTION, dtype=torch.bool)
    mask[1, VALID_SECOND:] = False
    return x, torch.tensor([0.3, 0.3]), cap, mask


def runners(models, dtype):
    x, t, cap, mask = inputs(dtype)
    return {
        "ours": lambda: models["ours"](x, t, cap, mask, None),
        # ComfyUI: sigma in (1 - t), no per-sample caption mask in 0.3.75.
        "comfyui": lambda: models["comfyui"](x, 1.0 - t, cap, CAPTION),
        "diffusers": lambda: models["diffusers"](x, t, cap, mask, return_dict=False)[0],
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dtypes", default="bfloat16,float32")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; dim 768, 8+2+2 "
          f"layers, {(LATENT // 2) ** 2} image + {CAPTION} caption tokens, batch 2")
    for name in args.dtypes.split(","):
        dtype = getattr(torch, name)
        models = build(dtype)
        run = runners(models, dtype)
        times = {k: [] for k in run}
        with torch.no_grad():
            for fn in run.values():  # warm-up
                fn()
            for _ in range(args.rounds):
                for key, fn in run.items():  # alternate
                    start = time.perf_counter()
                    fn()
                    times[key].append(time.perf_counter() - start)
        med = {k: statistics.median(v) for k, v in times.items()}
        best_other = min(med["comfyui"], med["diffusers"])
        print(f"\n{name}: median of {args.rounds} (s)")
        for key, value in med.items():
            print(f"  {key:10} {value:7.3f}   {value / best_other:5.2f}x the faster reference")


if __name__ == "__main__":
    main()
