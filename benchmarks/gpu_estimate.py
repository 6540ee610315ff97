"""On paper, for GPUs: FLOPs per sampling step of the released model at 1024x1024,
the compute floor for 28 steps on an H100 (and 50 on an A100), and the weights each
phase keeps on the card with the text encoders offloaded after encoding.

    bash scripts/bench.sh gpu_estimate
"""
from __future__ import annotations


import torch

from newbie.models import NewBieTransformer
from newbie.sampling import time_grid

IMAGE_TOKENS = (1024 // 16) ** 2          # 4096
CAPTION_TOKENS = 300                      # XML prompt + system prompt, typical
H100_BF16, A100_BF16 = 790e12, 312e12     # dense tensor FLOP/s
GEMMA_4B_TEXT, JINA_TEXT, FLUX_VAE = 3.88e9, 0.56e9, 83.8e6  # parameters


def linear_params(block) -> int:
    """Parameters multiplied per token (adaLN works per sample, not per token)."""
    return sum(m.weight.numel() for n, m in block.named_modules()
               if isinstance(m, torch.nn.Linear) and "adaLN" not in n)


def block_flops(block, tokens: int, dim: int) -> float:
    return 2 * tokens * linear_params(block) + 4 * tokens * tokens * dim  # GEMMs + QK^T, AV


def main():
    with torch.device("meta"):
        model = NewBieTransformer()
    c = model.config
    joint = IMAGE_TOKENS + CAPTION_TOKENS
    per_sample = (sum(block_flops(b, joint, c.dim) for b in model.layers)
                  + sum(block_flops(b, IMAGE_TOKENS, c.dim) for b in model.noise_refiner)
                  + sum(block_flops(b, CAPTION_TOKENS, c.dim) for b in model.context_refiner))
    params = sum(p.numel() for p in model.parameters())
    grid = time_grid(28, 6.0)[:-1]
    guided = int((grid < 0.25).sum())
    print(f"NewBie transformer: {params / 1e9:.3f} B parameters, {IMAGE_TOKENS} image + "
          f"{CAPTION_TOKENS} caption tokens at 1024x1024")
    print(f"  one forward, one sample:        {per_sample / 1e12:6.1f} TFLOP")
    print(f"  one step with CFG (batch 2):    {2 * per_sample / 1e12:6.1f} TFLOP")
    for label, forwards in (("28 steps, CFG every step", 56),
                            (f"28 steps, cfg_trunc 0.25 ({guided} guided)", 28 + guided)):
        total = forwards * per_sample
        print(f"  {label:36} {total / 1e15:5.2f} PFLOP -> H100 floor {total / H100_BF16:5.1f} s")
    a100 = 100 * per_sample / A100_BF16
    print(f"  50 steps with CFG on an A100: floor {a100:.1f} s (reported stock bf16: 105 s, "
          f"{a100 / 105:.0%} of peak)")
    gb = 2 / 1e9  # bf16 bytes per parameter, in GB
    phases = {"encode": (GEMMA_4B_TEXT + JINA_TEXT) * gb,
              "sample": params * gb + 0.5,           # + activations at batch 2 (estimate)
              "decode": FLUX_VAE * 4 / 1e9 + 4.1}    # fp32 weights + measured untiled peak
    print("\nOn the card per phase (bf16 weights; each phase's models alone):")
    print(f"  encode:   Gemma 3 text tower {GEMMA_4B_TEXT * gb:4.1f} GB + Jina "
          f"{JINA_TEXT * gb:3.1f} GB = {phases['encode']:4.1f} GB (vision tower never loaded)")
    print(f"  sample:   transformer {params * gb:4.1f} GB + ~0.5 GB activations = "
          f"{phases['sample']:4.1f} GB")
    print(f"  decode:   FLUX VAE {FLUX_VAE * 4 / 1e9:4.2f} GB fp32 + ~4.1 GB activations untiled "
          f"(1.1 GiB tiled 512) = {phases['decode']:4.1f} GB")
    print(f"  peak:     {max(phases.values()):4.1f} GB when the phases do not overlap (14.8 GB "
          "reported for a stock bf16 setup)")


if __name__ == "__main__":
    main()
