"""What each transformer storage costs and gives, through ComfyUI (the test host):
a synthetic NewBie transformer at the real width (dim 2304, 24/8 heads of 96, FFN 9216,
caption 2560, CLIP 1024; random weights, real keys), fewer blocks than the real 36.

Per storage, in a fresh process: the bytes ComfyUI loads for the MODEL (its own
module size, the "MB loaded" of its log), the peak RSS above idle after loading (a bf16
file stays memory-mapped until used) and through a forward, and the time of one forward
at 1024x1024 (4096 image tokens + 128 caption tokens), all computing in bfloat16,
against bf16 storage in the same run.

    bash scripts/bench.sh low_vram [--layers 4]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REAL = dict(dim=2304, n_heads=24, n_kv=8, head_dim=96, ffn=9216, cap=2560, clip=1024,
            patch=2, channels=16)
CASES = [("bf16 file, bfloat16", "bf16", "bfloat16"),
         ("bf16 file, fp8_e4m3fn", "bf16", "fp8_e4m3fn"),
         ("bf16 file, fp8_e5m2", "bf16", "fp8_e5m2"),
         ("scaled-fp8 file", "scaled", "auto"),
         ("per-layer fp8 file (comfy_quant)", "per_layer", "auto")]


def status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def child(path: str, choice: str):
    from devtools.comfy_host import comfy_in_process, import_pack

    comfy_in_process()
    import_pack()
    import torch

    from newbie_pack.comfy_glue.model import compute_in, load_model
    from newbie_pack.comfy_glue.quantized import storage_dtype

    idle = status("VmRSS")
    model = load_model(path, storage_dtype(choice, path, "cpu"))
    loaded_peak = status("VmHWM") - idle
    model = compute_in(model, torch.bfloat16)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 16, 128, 128, generator=gen, dtype=torch.bfloat16)
    context = torch.randn(1, 128, REAL["cap"], generator=gen, dtype=torch.bfloat16)
    pooled = torch.randn(1, REAL["clip"], generator=gen, dtype=torch.bfloat16)
    import comfy.model_management as mm

    mm.load_models_gpu([model])
    diffusion = model.model.diffusion_model
    times = []
    with torch.inference_mode():
        for _ in range(2):
            start = time.perf_counter()
            diffusion(x, torch.tensor([0.5]), context, None, clip_text_pooled=pooled)
            times.append(time.perf_counter() - start)
    print(json.dumps({"bytes": model.model_size(), "load_peak": loaded_peak,
                      "run_peak": status("VmHWM") - idle, "forward": min(times)}))


def write_files(folder: Path, layers: int) -> dict[str, Path]:
    import torch
    from devtools import tiny_quant
    from devtools.tiny_models import official_dit_shapes, random_tensors, write_safetensors

    config = dict(REAL, n_layers=layers, n_refiner=2)
    base = random_tensors(official_dit_shapes(config), std=0.02, dtype=torch.bfloat16)
    per_layer, _ = tiny_quant.comfy_quant(base)
    return {"bf16": write_safetensors(folder / "bf16.safetensors", base),
            "scaled": write_safetensors(folder / "scaled.safetensors",
                                        tiny_quant.scaled_fp8(base)),
            "per_layer": write_safetensors(folder / "per_layer.safetensors", per_layer)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--layers", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = write_files(Path(tmp), args.layers)
        print(f"NewBie transformer at the real width, {args.layers} + 2 + 2 blocks; "
              f"bf16 file {files['bf16'].stat().st_size / 2**30:.2f} GiB\n")
        print("| storage | MB ComfyUI loads | x bf16 | peak RSS loading (MB) "
              "| peak RSS with a forward (MB) | x bf16 | forward 1024² (s) | x bf16 |")
        print("|---|---|---|---|---|---|---|---|")
        first = None
        for label, file, choice in CASES:
            out = subprocess.run([sys.executable, __file__, "--child", str(files[file]), choice],
                                 check=True, capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            first = first or r
            print(f"| {label} | {r['bytes'] / 2**20:.0f} | {r['bytes'] / first['bytes']:.2f} | "
                  f"{r['load_peak'] / 2**20:.0f} | {r['run_peak'] / 2**20:.0f} | "
                  f"{r['run_peak'] / first['run_peak']:.2f} | "
                  f"{r['forward']:.2f} | {r['forward'] / first['forward']:.2f} |")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        main()
