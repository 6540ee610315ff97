"""Danbooru-style tag tidying, as the official XML converter writes tags."""
from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[,，]")
_SPACES = re.compile(r"\s+")
_BARE_PAREN = re.compile(r"(?<!\\)([()])")


def tidy_tag(tag: str) -> str:
    """`red eyes` -> `red_eyes`; `rem (re:zero)` -> `rem_\\(re:zero\\)`."""
    tag = _SPACES.sub("_", tag.strip())
    return _BARE_PAREN.sub(r"\\\1", tag)


def tidy_tags(text: str) -> str:
    """Split on commas, tidy each tag, drop empties and repeats, join with ', '."""
    seen: dict[str, None] = {}
    for raw in _SEPARATORS.split(text):
        tag = tidy_tag(raw)
        if tag:
            seen.setdefault(tag)
    return ", ".join(seen)
