"""The NewBie MODEL's forward against ComfyUI 0.33's native NewBie (Lumina 2 NextDiT with
the pooled path), both as ComfyUI runs them: a MODEL's `apply_model`, same file, same
inputs.

NewBie's real block shapes (dim 2304, 24 heads of 96, 8 KV heads: GQA ratio 3, FFN
9216, caption 2560, pooled 1024) with one main layer and core's two refiners of each
kind; latent 64x64 (1024 image tokens: a 512x512 image), 128 caption tokens, batch 2 as
for CFG (--latent / --caption change them). Compute
dtype set on both models' `manual_cast_dtype`. Runs alternate; medians after warm-up.

    NEWBIE_BENCH_HOST=0.33.0 bash scripts/bench.sh model_forward [--rounds 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from devtools.comfy_host import comfy_in_process, import_pack
from devtools.tiny_models import official_dit_shapes, random_tensors, write_safetensors

REAL = dict(dim=2304, n_layers=1, n_refiner=2, n_heads=24, n_kv=8, head_dim=96, ffn=9216,
            cap=2560, clip=1024, patch=2, channels=16)


def models(path: Path, dtype: torch.dtype) -> dict:
    import comfy.sd

    from newbie_pack.comfy_glue.model import load_model

    native = comfy.sd.load_diffusion_model(str(path), model_options={"dtype": dtype})
    if getattr(native.model.diffusion_model, "clip_text_pooled_proj", None) is None:
        raise SystemExit("this ComfyUI has no native NewBie: run with NEWBIE_BENCH_HOST=0.33.0")
    out = {"ours": load_model(path, dtype), "native": native}
    for patcher in out.values():
        patcher.model.manual_cast_dtype = dtype
    return out


def runner(patcher, latent: int, caption: int):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 16, latent, latent, generator=gen)
    sigma = torch.tensor([0.7, 0.7])
    cap = torch.randn(2, caption, REAL["cap"], generator=gen)
    pooled = torch.randn(2, REAL["clip"], generator=gen)
    model = patcher.model
    extra = ({"num_tokens": caption} if type(model).__name__ == "Lumina2"
             else {"attention_mask": torch.ones(2, caption, dtype=torch.bool)})
    return lambda: model.apply_model(x, sigma, c_crossattn=cap, clip_text_pooled=pooled,
                                     transformer_options={}, **extra)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dtypes", default="bfloat16,float32")
    parser.add_argument("--latent", type=int, default=64)
    parser.add_argument("--caption", type=int, default=128)
    args = parser.parse_args()
    comfy_in_process()
    import_pack()
    torch.set_num_threads(os.cpu_count() or 1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; dim 2304, heads "
          f"24x96, KV 8, 1+2+2 blocks, {(args.latent // 2) ** 2} image + {args.caption} caption "
          "tokens, batch 2")
    with tempfile.TemporaryDirectory() as tmp:
        weights = {k: v.to(torch.bfloat16) for k, v in
                   random_tensors(official_dit_shapes(REAL), seed=0, std=0.02).items()}
        path = write_safetensors(Path(tmp) / "newbie_bench.safetensors", weights)
        del weights
        for name in args.dtypes.split(","):
            dtype = getattr(torch, name)
            built = models(path, dtype)
            run = {k: runner(p, args.latent, args.caption) for k, p in built.items()}
            times = {k: [] for k in run}
            with torch.no_grad():
                outputs = {k: fn().float() for k, fn in run.items()}  # warm-up
                for _ in range(args.rounds):
                    for key, fn in run.items():
                        start = time.perf_counter()
                        fn()
                        times[key].append(time.perf_counter() - start)
            diff = (outputs["ours"] - outputs["native"]).norm() / outputs["native"].norm()
            med = {k: statistics.median(v) for k, v in times.items()}
            print(f"\n{name}: median of {args.rounds} (s); outputs differ by {diff:.2e} "
                  "(relative)")
            for key, value in med.items():
                print(f"  {key:7} {value:7.3f}   {value / med['native']:5.2f}x native")
            del built, run


if __name__ == "__main__":
    main()
