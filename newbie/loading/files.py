"""Reading checkpoints: safetensors only, memory-mapped, straight into a dtype.

A `Checkpoint` knows its keys and shapes from the headers alone; tensors are
read on demand as mmap views (no copy when the stored dtype is the target one).
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from .errors import CheckpointError

PICKLE_SUFFIXES = {".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle"}
_ST_DTYPES = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32,
              "F64": torch.float64, "U8": torch.uint8, "I8": torch.int8, "I32": torch.int32,
              "I64": torch.int64, "BOOL": torch.bool}


def refuse_pickle(path: Path):
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise CheckpointError(path, "pickle checkpoints (.ckpt/.pt/.pth/.bin) are refused because "
                                    "loading them can run arbitrary code; use the .safetensors "
                                    "version of this file.")


def weight_files(path, subfolder: str | None = None) -> list[Path]:
    """The safetensors files behind `path`: the file, or a folder's (sharded) weights.

    A folder may hold the weights directly or in `subfolder` (HF pipeline layout);
    a `*.safetensors.index.json` names the shards.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(path, "no such file or folder.")
    if path.is_file():
        refuse_pickle(path)
        if path.suffix.lower() != ".safetensors":
            raise CheckpointError(path, "expected a .safetensors file.")
        return [path]
    folders = [path / subfolder, path] if subfolder else [path]
    for folder in folders:
        if not folder.is_dir():
            continue
        indexes = sorted(folder.glob("*.safetensors.index.json"))
        if indexes:
            shards = sorted(set(json.loads(indexes[0].read_text())["weight_map"].values()))
            return [folder / s for s in shards]
        files = sorted(folder.glob("*.safetensors"))
        if files:
            return files
    pickles = [p.name for f in folders if f.is_dir() for p in f.iterdir()
               if p.suffix.lower() in PICKLE_SUFFIXES]
    hint = (f" Only pickle files were found ({', '.join(pickles[:3])}), which are refused."
            if pickles else "")
    raise CheckpointError(path, f"no .safetensors weights in this folder"
                                f"{' or its ' + subfolder + '/' if subfolder else ''}.{hint}")


class Checkpoint:
    """Keys, shapes and lazily read tensors of one or more safetensors files."""

    def __init__(self, files: list[Path], label: Path | None = None):
        self.files = files
        self.path = label or files[0]
        self._handles = {}
        self._offsets: dict[Path, dict[str, tuple[int, int]]] = {}
        self._where: dict[str, Path] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.dtypes: dict[str, torch.dtype | None] = {}
        for file in files:
            if not file.exists():
                raise CheckpointError(file, "shard listed in the index is missing.")
            try:
                handle = safe_open(str(file), framework="pt", device="cpu")
            except SafetensorError as err:
                raise CheckpointError(file, f"not a readable safetensors file ({err}); it may be "
                                            "truncated or still downloading.") from None
            self._handles[file] = handle
            for key in handle.keys():
                sl = handle.get_slice(key)
                self._where[key] = file
                self.shapes[key] = tuple(sl.get_shape())
                self.dtypes[key] = _ST_DTYPES.get(sl.get_dtype())

    @classmethod
    def open(cls, path, subfolder: str | None = None) -> "Checkpoint":
        return cls(weight_files(path, subfolder), label=Path(path))

    def keys(self) -> list[str]:
        return list(self._where)

    def __contains__(self, key: str) -> bool:
        return key in self._where

    def metadata(self) -> dict[str, str]:
        out = {}
        for handle in self._handles.values():
            out.update(handle.metadata() or {})
        return out

    def tensor(self, key: str, dtype: torch.dtype | None = None) -> torch.Tensor:
        """The tensor as an mmap view when no cast is needed; otherwise read through a
        private buffer and cast, so the source pages never pile up in this process."""
        stored = self.dtypes.get(key)
        if dtype is not None and stored is not None and stored != dtype and stored.is_floating_point:
            return self._read(key).to(dtype)
        try:
            return self._handles[self._where[key]].get_tensor(key)
        except SafetensorError as err:
            raise CheckpointError(self._where[key], f"cannot read tensor {key!r} ({err}).") \
                from None

    def _read(self, key: str) -> torch.Tensor:
        file = self._where[key]
        if file not in self._offsets:
            self._offsets[file] = _data_offsets(file)
        start, end = self._offsets[file][key]
        buffer = bytearray(end - start)
        with open(file, "rb") as f:
            f.seek(start)
            if f.readinto(buffer) != len(buffer):
                raise CheckpointError(file, f"tensor {key!r} is cut short; the file is truncated.")
        flat = torch.frombuffer(buffer, dtype=self.dtypes[key]) if buffer else \
            torch.empty(0, dtype=self.dtypes[key])
        return flat.reshape(self.shapes[key])

    def raw_bytes(self, key: str) -> bytes:
        return self.tensor(key).numpy().tobytes()


def _data_offsets(file: Path) -> dict[str, tuple[int, int]]:
    """Absolute byte ranges of each tensor, from the safetensors header."""
    with open(file, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
    base = 8 + length
    return {k: (base + v["data_offsets"][0], base + v["data_offsets"][1])
            for k, v in header.items() if k != "__metadata__"}
