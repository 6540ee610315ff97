"""Character slots as the node widget stores them: one versioned JSON string.

    {"version": 2, "characters": [{"n": "...", "gender": "...", ...,
                                   "box": [x1, y1, x2, y2]}, ...]}

`box` (optional; 0..1000 of the image, as in the JSON form) places the character.
Older versions are migrated here, in one place, so saved workflows keep working:
version 1 is version 2 without boxes; version 0 is a bare list of characters.
"""
from __future__ import annotations

import json
from typing import Any

from .json_form import Box, check_box
from .schema import Character, PromptError

SLOTS_VERSION = 2
MAX_SLOTS_TEXT = 1_000_000  # characters; far above any real cast of characters


def _migrate(data: Any) -> dict[str, Any]:
    # Version 0: a bare list of character objects (no envelope).
    if isinstance(data, list):
        data = {"version": SLOTS_VERSION, "characters": data}
    if not isinstance(data, dict):
        raise PromptError(f"character slots: expected an object, got {type(data).__name__}")
    version = data.get("version", SLOTS_VERSION)
    if not isinstance(version, int) or version < 1 or version > SLOTS_VERSION:
        raise PromptError(f"character slots: unsupported version {version!r}; "
                          f"this pack reads versions 1..{SLOTS_VERSION}")
    return data


def parse_slots(text: str) -> list[Character]:
    """Characters from the slot JSON; empty text means no slots."""
    return [character for character, _ in parse_boxed_slots(text)]


def parse_boxed_slots(text: str) -> list[tuple[Character, Box | None]]:
    """(character, box or None) per slot from the slot JSON; empty text means no slots."""
    if text is None or not str(text).strip():
        return []
    if not isinstance(text, str):
        raise PromptError(f"character slots: expected JSON text, got {type(text).__name__}")
    if len(text) > MAX_SLOTS_TEXT:
        raise PromptError(f"character slots: {len(text)} characters is more than the "
                          f"{MAX_SLOTS_TEXT} allowed")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise PromptError(f"character slots are not valid JSON: {err.msg}",
                          err.lineno, err.colno) from None
    except RecursionError:
        raise PromptError("character slots: the JSON is nested too deeply (slots are "
                          "{\"characters\": [{field: text}]})") from None
    characters = _migrate(data).get("characters", [])
    if not isinstance(characters, list):
        raise PromptError("character slots: 'characters' must be a list")
    out = []
    for i, item in enumerate(characters, start=1):
        try:
            fields = dict(item) if isinstance(item, dict) else item
            box = fields.pop("box", None) if isinstance(fields, dict) else None
            out.append((Character.from_dict(fields),
                        None if box is None else check_box(box, "")))
        except PromptError as err:
            raise PromptError(f"character slot {i}: {err.message}") from None
    return out


def dump_slots(characters: list[Character], boxes: list[Box | None] = ()) -> str:
    """The slot JSON for `characters` (and their boxes), in the current version."""
    boxes = (list(boxes) + [None] * len(characters))[:len(characters)]
    return json.dumps({"version": SLOTS_VERSION, "characters": [
        {**c.to_dict(), **({"box": list(b)} if b is not None else {})}
        for c, b in zip(characters, boxes, strict=True)]}, ensure_ascii=False)
