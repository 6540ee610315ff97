"""FLUX VAE decode at 1024x1024 (random full-size weights): time and peak memory.
The nodes' path (ComfyUI's VAE object through comfy_glue/vae.py, as Load NewBie VAE
and core VAELoader give it) against the library's diffusers decoder (the reference, and
what the nodes ran before), float32 untiled and tiled (512 px tiles; the nodes' one
blended pass against core's three-pass `decode_tiled`); `--bf16` adds
bfloat16 untiled on the library (slow where the CPU emulates bfloat16 convolutions).
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
CASES = [("library", "float32", 0), ("comfyui", "float32", 0),
         ("library", "float32", 512), ("comfyui", "float32", 512),
         ("core-3-pass", "float32", 512)]


def rss(field="VmHWM") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def child(impl: str, dtype_name: str, tile: int):
    import torch
    from devtools.tiny_vae import flux_vae

    from newbie.models.vae import NewBieVAE

    dtype = getattr(torch, dtype_name)
    vae = flux_vae()
    if impl in ("comfyui", "core-3-pass"):
        from devtools.comfy_host import comfy_in_process, import_pack

        comfy_in_process()
        import comfy.sd

        core_vae = import_pack().comfy_glue.vae
        model = comfy.sd.VAE(sd=vae.state_dict(), dtype=dtype)
        del vae

        def run(latent):
            if impl == "core-3-pass":  # what core VAE Decode (Tiled) runs, overlap 64 px
                return model.decode_tiled(latent, tile_x=tile // 8, tile_y=tile // 8, overlap=8)
            return core_vae.decode(model, latent, dtype, tile)
    else:
        model = NewBieVAE(vae.to(dtype))

        def run(latent):
            return model.decode(latent, tile_size=tile or None)
    latent = torch.randn(1, 16, 128, 128)
    loaded = rss("VmRSS")
    start = time.perf_counter()
    with torch.inference_mode():  # as ComfyUI's executor runs every node
        image = run(latent)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak": rss() - loaded, "shape": list(image.shape)}))


def main():
    print("FLUX VAE decode, 1024x1024, 2 CPU threads")
    base = None
    for impl, dtype, tile in CASES + ([("library", "bfloat16", 0)] if "--bf16" in sys.argv else []):
        out = subprocess.run([sys.executable, __file__, "--child", impl, dtype, str(tile)],
                             check=True, capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        base = base or r
        label = f"{impl}, {dtype}, " + (f"tiled {tile}" if tile else "untiled")
        print(f"  {label:30} {r['seconds']:7.1f} s ({r['seconds'] / base['seconds']:.2f}x)   "
              f"peak +{r['peak'] / 2**30:5.2f} GiB ({r['peak'] / base['peak']:.2f}x)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
