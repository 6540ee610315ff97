"""Peak memory of loading a synthetic ~1 GB NewBie transformer checkpoint.

Each case runs in a fresh process; the number is the peak RSS (VmHWM) above the
process's idle RSS after imports, as a multiple of the bf16 file size.
"after touch" also reads every weight once, as the first forward would, which
brings the memory-mapped pages into RSS.

    bash scripts/bench.sh load_memory
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Real key names and layout; 8 + 2 + 2 blocks of dim 1536 make about 1 GB in bf16.
CONFIG = dict(dim=1536, n_layers=8, n_refiner=2, n_heads=16, n_kv=8, head_dim=96, ffn=6144,
              cap=2560, clip=1024, patch=2, channels=16)


def status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def child(case: str, path: str):
    import torch

    from newbie.loading import load_transformer
    from newbie.models import NewBieTransformer
    from newbie.models.transformer_config import infer_config

    idle = status("VmRSS")
    if case == "naive":  # float32 init, copy the state dict in, then cast (common pattern)
        from safetensors.torch import load_file
        sd = load_file(path)
        model = NewBieTransformer(**infer_config({k: tuple(v.shape) for k, v in sd.items()}))
        model.load_state_dict(sd, strict=False)
        model = model.to(torch.bfloat16)
    else:
        model = load_transformer(path, dtype=torch.bfloat16)
    after_load = status("VmHWM") - idle
    total = sum(float(p.float().sum()) for p in model.parameters())  # touch every weight
    print(json.dumps({"after_load": after_load, "after_touch": status("VmHWM") - idle,
                      "dtype": str(next(model.parameters()).dtype), "checksum": total}))


def write_checkpoint(folder: Path, dtype_name: str) -> Path:
    import torch
    from devtools.tiny_models import official_dit_shapes, write_safetensors

    dtype = getattr(torch, dtype_name)
    gen = torch.Generator().manual_seed(0)
    tensors = {k: (torch.randn(s, generator=gen) * 0.02).to(dtype)
               for k, s in official_dit_shapes(CONFIG).items()}
    return write_safetensors(folder / f"synthetic_{dtype_name}.safetensors", tensors)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        files = {d: write_checkpoint(Path(tmp), d) for d in ("bfloat16", "float32")}
        size = files["bfloat16"].stat().st_size
        print(f"synthetic NewBie transformer, real keys: {size / 2**30:.2f} GiB in bf16\n")
        print(f"{'case':38} {'after load':>11} {'after touch':>12}   (peak RSS above idle "
              "/ bf16 file size)")
        for label, case, src in [("bf16 file -> bf16 (ours)", "ours", "bfloat16"),
                                 ("fp32 file -> bf16 (ours)", "ours", "float32"),
                                 ("bf16 file -> fp32 init, copy, cast", "naive", "bfloat16")]:
            out = subprocess.run([sys.executable, __file__, "--child", case, str(files[src])],
                                 check=True, capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            print(f"{label:38} {r['after_load'] / size:10.2f}x {r['after_touch'] / size:11.2f}x")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3])
    else:
        main()
