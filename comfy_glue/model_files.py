"""Model files and HF-layout folders inside ComfyUI's model folders.

Combos list `.safetensors` files plus folders that hold a model (shown with a
trailing `/`). A chosen name is resolved only inside the model folders of its
kind: absolute paths and `..` never leave them.
"""
from __future__ import annotations

import os
from pathlib import Path

import folder_paths

FOLDER_MARKERS = ("model_index.json", "config.json", "adapter_config.json", "transformer",
                  "text_encoder", "clip_model", "vae", "tokenizer.json")
MAX_FOLDER_DEPTH = 2


def _model_folder(path: Path) -> bool:
    if not any((path / m).exists() for m in FOLDER_MARKERS):
        return False
    return any(path.glob("*.safetensors")) or any(path.glob("*/*.safetensors"))


def list_models(kind: str) -> list[str]:
    files = [f for f in folder_paths.get_filename_list(kind) if f.lower().endswith(".safetensors")]
    folders = set()
    for base in map(Path, folder_paths.get_folder_paths(kind)):
        if not base.is_dir():
            continue
        for depth in range(1, MAX_FOLDER_DEPTH + 1):
            for sub in base.glob("/".join(["*"] * depth)):
                name = sub.relative_to(base).as_posix() + "/"
                inside_listed = any(name.startswith(f) for f in folders)
                if sub.is_dir() and not inside_listed and _model_folder(sub):
                    folders.add(name)
    # Files inside a listed folder belong to it; do not list them twice.
    files = [f for f in files if not any(f.startswith(d) for d in folders)]
    return sorted(folders) + sorted(files)


def resolve_model(kind: str, name: str) -> Path:
    """The full path of `name` inside a model folder of `kind`, or a clear error."""
    if not name or not isinstance(name, str):
        raise ValueError(f"no {kind} model chosen")
    relative = name.rstrip("/")
    if os.path.isabs(relative) or ".." in Path(relative).parts:
        raise ValueError(f"{kind} model {name!r}: only names inside ComfyUI's {kind} folders "
                         "are accepted")
    # With no absolute path and no `..`, a name stays inside the folder (symlinks the
    # user placed there are theirs to follow).
    for base in map(Path, folder_paths.get_folder_paths(kind)):
        candidate = base / relative
        if relative and candidate.exists():
            return candidate
    searched = ", ".join(folder_paths.get_folder_paths(kind))
    raise FileNotFoundError(f"{kind} model {name!r} not found in {searched}")


def choice_problem(kind: str, name: str) -> str | None:
    """Why `name` cannot be loaded from the `kind` folders, with what is there and where
    files go; None when it resolves."""
    try:
        resolve_model(kind, name)
        return None
    except (ValueError, FileNotFoundError) as err:
        there = list_models(kind)
        listed = ", ".join(there[:20]) + (f" and {len(there) - 20} more" if len(there) > 20
                                          else "")
        return (f"{err}. Available in models/{kind}: {listed or 'nothing yet'}. Put the file "
                f"(or model folder) in one of: {', '.join(folder_paths.get_folder_paths(kind))}")
