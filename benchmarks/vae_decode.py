"""FLUX VAE decode at 1024x1024 (random full-size weights): time and peak memory,
float32 untiled against float32 tiled (512 px tiles) and bfloat16 untiled.
Each case runs in a fresh process; memory is the peak RSS above the loaded model.

    bash scripts/bench.sh vae_decode
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CASES = [("float32, untiled", "float32", 0), ("float32, tiled 512", "float32", 512),
         ("bfloat16, untiled", "bfloat16", 0)]


def rss(field="VmHWM") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def child(dtype_name: str, tile: int):
    import torch
    sys.path[:0] = [str(REPO)]
    from diffusers import AutoencoderKL

    from newbie.models.vae import NewBieVAE, flux_vae_config

    torch.manual_seed(0)
    vae = AutoencoderKL.from_config(flux_vae_config()).eval()
    with torch.no_grad():
        for name, p in vae.named_parameters():
            p.normal_(0, 0.02) if p.dim() > 1 else p.fill_(1.0 if name.endswith("weight") else 0.0)
    model = NewBieVAE(vae.to(getattr(torch, dtype_name)))
    latent = torch.randn(1, 16, 128, 128)
    loaded = rss("VmRSS")
    start = time.perf_counter()
    image = model.decode(latent, tile_size=tile or None)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak": rss() - loaded, "shape": list(image.shape)}))


def main():
    print("FLUX VAE decode, 1024x1024, 2 CPU threads")
    base = None
    for label, dtype, tile in CASES:
        out = subprocess.run([sys.executable, __file__, "--child", dtype, str(tile)],
                             check=True, capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        base = base or r
        print(f"  {label:20} {r['seconds']:7.1f} s ({r['seconds'] / base['seconds']:.2f}x)   "
              f"peak +{r['peak'] / 2**30:5.2f} GiB ({r['peak'] / base['peak']:.2f}x)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], int(sys.argv[3]))
    else:
        main()
