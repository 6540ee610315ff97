"""What each storage costs and gives, through ComfyUI (the test host): a synthetic
NewBie transformer at the real width (dim 2304, 24/8 heads of 96, FFN 9216, caption
2560, CLIP 1024) with fewer blocks than the real 36, and a synthetic Gemma 3 4B text
tower (hidden 2560, 8/4 heads of 256, MLP 10240, vocabulary 262144) with fewer layers
than the real 34; random weights, real keys.

Per storage, in a fresh process: the bytes ComfyUI loads for the MODEL (its own
module size, the "MB loaded" of its log), the peak RSS above idle after loading (a bf16
file stays memory-mapped until used) and through a forward, and the time of one forward
at 1024x1024 (4096 image tokens + 128 caption tokens) or of one 300-token encode, all
computing in bfloat16, against bf16 storage in the same run.

    bash scripts/bench.sh low_vram [--layers 1] [--gemma-layers 4]
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
TEXT_CASES = [("Gemma bf16", "gemma", None), ("Gemma fp8_e4m3fn", "gemma", "float8_e4m3fn")]
GEMMA = dict(hidden=2560, intermediate=10240, heads=8, kv=4, head_dim=256)


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


def text_child(gemma: str, jina: str, fp8: str):
    from devtools.comfy_host import comfy_in_process, import_pack

    comfy_in_process()
    import_pack()
    import torch

    from newbie_pack.comfy_glue.clip import load_clip

    idle = status("VmRSS")
    clip = load_clip(Path(gemma), Path(jina), torch.bfloat16, on_cpu=True,
                     fp8=None if fp8 == "none" else fp8)
    loaded_peak = status("VmHWM") - idle
    encoders = clip.cond_stage_model.encoders
    rows = [[2] + [(i * 7919) % 260000 + 100 for i in range(299)]]
    times = []
    with torch.inference_mode():
        for _ in range(2):
            start = time.perf_counter()
            encoders.encode_rows(rows, [[0, 5, 6, 2]])
            times.append(time.perf_counter() - start)
    print(json.dumps({"bytes": clip.patcher.model_size(), "load_peak": loaded_peak,
                      "run_peak": status("VmHWM") - idle, "forward": min(times)}))


def write_text_files(folder: Path, layers: int) -> dict[str, Path]:
    from devtools.tiny_text import write_gemma_comfy, write_jina_comfy

    return {"gemma": write_gemma_comfy(folder / "gemma.safetensors",
                                       config=dict(GEMMA, layers=layers), vocab=262144),
            "jina": write_jina_comfy(folder / "jina.safetensors")}


def table(title: str, cases, run):
    print(f"\n{title}\n")
    print("| storage | MB ComfyUI loads | x bf16 | peak RSS loading (MB) "
          "| peak RSS with a forward (MB) | x bf16 | forward (s) | x bf16 |")
    print("|---|---|---|---|---|---|---|---|")
    first = None
    for label, *case in cases:
        out = subprocess.run([sys.executable, __file__, *run(*case)],
                             check=True, capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        first = first or r
        print(f"| {label} | {r['bytes'] / 2**20:.0f} | {r['bytes'] / first['bytes']:.2f} | "
              f"{r['load_peak'] / 2**20:.0f} | {r['run_peak'] / 2**20:.0f} | "
              f"{r['run_peak'] / first['run_peak']:.2f} | "
              f"{r['forward']:.2f} | {r['forward'] / first['forward']:.2f} |")


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
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--gemma-layers", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = write_files(Path(tmp), args.layers)
        table(f"Transformer at the real width, {args.layers} + 2 + 2 blocks (bf16 file "
              f"{files['bf16'].stat().st_size / 2**30:.2f} GiB); forward at 1024²", CASES,
              lambda file, choice: ["--child", str(files[file]), choice])
        for path in files.values():
            path.unlink()
        text = write_text_files(Path(tmp), args.gemma_layers)
        table(f"Gemma 3 4B text tower, {args.gemma_layers} layers (bf16 file "
              f"{text['gemma'].stat().st_size / 2**30:.2f} GiB) + the tiny Jina; one "
              "300-token encode", TEXT_CASES,
              lambda file, fp8: ["--text-child", str(text[file]), str(text["jina"]),
                                 fp8 or "none"])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "--text-child":
        text_child(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        main()
