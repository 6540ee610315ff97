"""The one error type every loader raises for a file it cannot use."""
from __future__ import annotations

from pathlib import Path
from ..errors import NewBieError


class CheckpointError(NewBieError, ValueError):
    """A checkpoint that cannot be loaded: says which file, what it looked like, why."""

    def __init__(self, path, message: str, layout: str | None = None,
                 missing: list[str] = (), unexpected: list[str] = ()):
        self.path = Path(path) if path is not None else None
        self.layout = layout
        self.missing = list(missing)
        self.unexpected = list(unexpected)
        parts = [f"{self.path.name if self.path else 'checkpoint'}: {message}"]
        if layout:
            parts.append(f"It looked like: {layout}.")
        if self.missing:
            parts.append(f"Missing {len(self.missing)} keys, first: {_first(self.missing)}.")
        if self.unexpected:
            parts.append(f"Unexpected {len(self.unexpected)} keys, first: "
                         f"{_first(self.unexpected)}.")
        if self.path:
            parts.append(f"(file: {self.path})")
        super().__init__(" ".join(parts))


def _first(keys: list[str], n: int = 5) -> str:
    return ", ".join(keys[:n]) + (", ..." if len(keys) > n else "")
