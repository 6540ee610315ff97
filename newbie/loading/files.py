"""Reading checkpoints: safetensors only, memory-mapped, straight into a dtype.

A `Checkpoint` knows its keys and shapes from the headers alone; tensors are
read on demand as mmap views (no copy when the stored dtype is the target one).
"""
from __future__ import annotations

import json
import stat
import struct
from pathlib import Path, PurePosixPath

import torch
from safetensors import SafetensorError, safe_open

from .errors import CheckpointError

PICKLE_SUFFIXES = {".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle"}
_ST_DTYPES = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32,
              "F64": torch.float64, "F8_E4M3": torch.float8_e4m3fn,
              "F8_E5M2": torch.float8_e5m2, "U8": torch.uint8, "I8": torch.int8, "I32": torch.int32,
              "I64": torch.int64, "BOOL": torch.bool}


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "named pipe (FIFO)"), (stat.S_ISSOCK, "socket"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISDIR, "folder")):
        if test(mode):
            return name
    return "special file"


def regular_file(path) -> Path:
    """`path` if it is a regular file (after symlinks), else a CheckpointError. Checked
    before every open: opening a FIFO blocks until something writes to it, which would
    freeze the whole server."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise CheckpointError(path, "no such file.") from None
    except OSError as err:
        raise CheckpointError(path, f"cannot be read ({err.strerror or err}).") from None
    if not stat.S_ISREG(mode):
        raise CheckpointError(path, f"this is a {_kind(mode)}, not a regular file; refused.")
    return path


def refuse_special_files(folder: Path):
    """Refuse a folder that holds FIFOs, sockets or devices: a library reading the folder
    (a tokenizer, a config) would block on them."""
    for entry in sorted(Path(folder).iterdir()):
        try:
            mode = entry.stat().st_mode
        except OSError:
            continue  # a dangling symlink: nothing opens it
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise CheckpointError(entry, f"this is a {_kind(mode)}, not a regular file; refused.")


def read_json(path, what: str) -> object:
    """A small JSON file (index, config), checked to be a regular file first."""
    path = regular_file(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(path, f"not a valid JSON {what} ({err}).") from None
    except RecursionError:
        raise CheckpointError(path, f"not a usable JSON {what} (nested too deeply).") from None


def shard_files(index: Path) -> list[Path]:
    """The shards a `*.safetensors.index.json` names, all inside the index's folder: an
    index entry is data, not a symlink the user placed, so it may not leave the folder
    (nor reveal whether a path elsewhere exists)."""
    data = read_json(index, "shard index")
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        found = ("no weight_map" if weight_map is None else "an empty weight_map"
                 if isinstance(weight_map, dict) else f"a {type(weight_map).__name__}")
        raise CheckpointError(index, "a shard index needs a 'weight_map' object mapping tensor "
                                     f"names to shard file names; this one has {found}.")
    shards = []
    for name in weight_map.values():
        if not isinstance(name, str) or not name.strip():
            raise CheckpointError(index, f"weight_map values must be shard file names; got {name!r}.")
        relative = PurePosixPath(name.replace("\\", "/"))
        if (not relative.parts or relative.is_absolute() or ".." in relative.parts
                or ":" in relative.parts[0]):
            raise CheckpointError(index, f"shard {name!r} is not inside the index's folder; "
                                         "shards must be named relative to it.")
        shard = index.parent / relative
        if shard not in shards:
            shards.append(shard)
    return sorted(shards)


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
    if not path.is_dir():
        refuse_pickle(path)
        regular_file(path)
        if path.suffix.lower() != ".safetensors":
            raise CheckpointError(path, "expected a .safetensors file.")
        return [path]
    folders = [path / subfolder, path] if subfolder else [path]
    for folder in folders:
        if not folder.is_dir():
            continue
        indexes = sorted(folder.glob("*.safetensors.index.json"))
        if indexes:
            return shard_files(indexes[0])
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
            regular_file(file)
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
        if dtype is not None and dtype.is_floating_point and (
                stored is None or not stored.is_floating_point):
            raise CheckpointError(self._where[key], f"tensor {key!r} is stored as "
                                  f"{str(stored).replace('torch.', '') if stored else 'an unknown type'}; "
                                  "model weights must be floating point (bf16, fp16 or fp32).")
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
