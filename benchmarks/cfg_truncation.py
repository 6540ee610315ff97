"""A 28-step euler run with CFG 5: model forwards and time with the official CFG
truncation (0.25) against CFG at every step, on the forward benchmark's model.

    bash scripts/bench.sh cfg_truncation
"""
from __future__ import annotations

import statistics
import time

import torch

from benchmarks.transformer_forward import CONFIG, build

from newbie.sampling import sample, time_grid

LATENT = 32  # 256 image tokens keep the run short on CPU


class Counting(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model, self.rows, self.calls = model, 0, 0

    def forward(self, x, *args):
        self.calls += 1
        self.rows += x.shape[0]
        return self.model(x, *args)


def main():
    model = build(torch.bfloat16)["ours"]
    gen = torch.Generator().manual_seed(0)
    cond = (torch.randn(1, 200, CONFIG["cap_feat_dim"], generator=gen).bfloat16(), None, None)
    uncond = (torch.randn(1, 8, CONFIG["cap_feat_dim"], generator=gen).bfloat16(), None, None)
    noise = torch.randn(1, 16, LATENT, LATENT, generator=gen)
    grid = time_grid(28, 6.0)
    print(f"28 steps, shift 6, euler, CFG 5; latent {LATENT}x{LATENT}, bf16; "
          f"{int((grid[:-1] < 0.25).sum())} of 28 grid times are below 0.25")
    results = {}
    for label, trunc in (("CFG every step", None), ("official cfg_trunc 0.25", 0.25)):
        times = []
        for _ in range(3):
            counting = Counting(model)
            start = time.perf_counter()
            sample(counting, cond, uncond, noise, steps=28, cfg=5.0, cfg_trunc=trunc)
            times.append(time.perf_counter() - start)
        results[label] = (counting.calls, counting.rows, statistics.median(times))
    base = results["CFG every step"]
    for label, (calls, rows, seconds) in results.items():
        print(f"  {label:26} {calls} forwards, {rows} sample-forwards, {seconds:6.2f} s "
              f"({seconds / base[2]:.2f}x)")


if __name__ == "__main__":
    main()
