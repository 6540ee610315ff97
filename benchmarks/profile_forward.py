"""Where the forward's time goes: torch.profiler tables for ours and diffusers on the
transformer_forward setup (same weights), one dtype per run.

    bash scripts/bench.sh profile_forward [bfloat16|float32]
"""
from __future__ import annotations

import os
import sys

import torch
from torch.profiler import ProfilerActivity, profile

import benchmarks.transformer_forward as setup


def main():
    dtype = getattr(torch, sys.argv[1] if len(sys.argv) > 1 else "bfloat16")
    torch.set_num_threads(os.cpu_count() or 1)
    run = setup.runners(setup.build(dtype), dtype)
    with torch.no_grad():
        for name in ("ours", "diffusers"):
            run[name]()  # warm-up
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                run[name]()
            print(f"===== {name}, {dtype}")
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


if __name__ == "__main__":
    main()
