"""Plain data for NewBie's XML prompts: characters, general tags, caption.

Values are strings with surrounding whitespace removed; everything converts to
and from JSON-able dicts so node widgets can carry it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any
from ..errors import NewBieError


class PromptError(NewBieError, ValueError):
    """A prompt that cannot be read or built; carries the position when known."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        self.message = message
        self.line = line
        self.column = column
        where = f" (line {line}, column {column})" if line is not None else ""
        super().__init__(message + where)


def _clean(value: Any, where: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise PromptError(f"{where}: expected text, got {type(value).__name__}")
    return str(value).strip()


def _clean_extra(extra: Any, where: str) -> dict[str, str]:
    if extra is None:
        return {}
    if not isinstance(extra, dict):
        raise PromptError(f"{where}.extra: expected an object of element name -> text")
    return {str(k): _clean(v, f"{where}.{k}") for k, v in extra.items()}


@dataclass
class _Block:
    """Named text fields plus `extra`: unknown elements kept in document order."""

    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        label = type(self).__name__
        for f in self.known_fields():
            setattr(self, f, _clean(getattr(self, f), f"{label}.{f}"))
        self.extra = _clean_extra(self.extra, label)

    @classmethod
    def known_fields(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls) if f.name != "extra")

    def items(self) -> list[tuple[str, str]]:
        """(element, text) pairs in output order, known fields first."""
        return [(f, getattr(self, f)) for f in self.known_fields()] + list(self.extra.items())

    def is_empty(self) -> bool:
        return not any(text for _, text in self.items())

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {f: getattr(self, f) for f in self.known_fields()}
        if self.extra:
            out["extra"] = dict(self.extra)
        return out

    @classmethod
    def from_dict(cls, data: Any):
        if not isinstance(data, dict):
            raise PromptError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
        known = set(cls.known_fields())
        kwargs = {k: v for k, v in data.items() if k in known}
        extra = dict(data.get("extra") or {})
        # Keys we do not know are kept, not dropped: they become extra elements.
        extra.update({k: v for k, v in data.items() if k not in known and k != "extra"})
        return cls(**kwargs, extra=extra)


@dataclass
class Character(_Block):
    n: str = ""
    gender: str = ""
    appearance: str = ""
    clothing: str = ""
    body_type: str = ""
    expression: str = ""
    action: str = ""
    interaction: str = ""
    position: str = ""
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class GeneralTags(_Block):
    count: str = ""
    artists: str = ""
    style: str = ""
    background: str = ""
    environment: str = ""
    perspective: str = ""
    atmosphere: str = ""
    lighting: str = ""
    resolution: str = ""
    quality: str = ""
    objects: str = ""
    other: str = ""
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class NewBiePrompt:
    characters: list[Character] = field(default_factory=list)
    general_tags: GeneralTags = field(default_factory=GeneralTags)
    caption: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        self.extra = _clean_extra(self.extra, "prompt")
        self.characters = [c if isinstance(c, Character) else Character.from_dict(c)
                           for c in self.characters]
        if not isinstance(self.general_tags, GeneralTags):
            self.general_tags = GeneralTags.from_dict(self.general_tags)
        self.caption = _clean(self.caption, "caption")

    def to_dict(self) -> dict[str, Any]:
        return {
            "characters": [c.to_dict() for c in self.characters],
            "general_tags": self.general_tags.to_dict(),
            "caption": self.caption,
            **({"extra": dict(self.extra)} if self.extra else {}),
        }

    @classmethod
    def from_dict(cls, data: Any) -> "NewBiePrompt":
        if not isinstance(data, dict):
            raise PromptError(f"prompt: expected an object, got {type(data).__name__}")
        chars = data.get("characters") or []
        if not isinstance(chars, list):
            raise PromptError("prompt.characters: expected a list")
        return cls(characters=chars, general_tags=data.get("general_tags") or {},
                   caption=data.get("caption") or "", extra=data.get("extra"))


# Element order inside a block follows the official example; the others slot in
# where the NewBieAI-Lab builder puts them.
CHARACTER_FIELDS = Character.known_fields()
GENERAL_TAG_FIELDS = GeneralTags.known_fields()

# The format's own element names: markup wherever they appear. Any other `<...>` inside
# an element is text (Danbooru tags such as `>_<` or `<3`), as the model saw it.
CONTAINER_TAGS = frozenset({"general_tags", "image"})
SCHEMA_TAGS = frozenset({*CHARACTER_FIELDS, *GENERAL_TAG_FIELDS, *CONTAINER_TAGS, "caption",
                         "extra_tags"})
_CHARACTER_TAG = re.compile(r"^character_\d+$")
# Any tag-shaped run (opening, closing or empty); markup only when its name is the format's.
TAG = re.compile(r"</?([A-Za-z_][A-Za-z0-9_.\-]*)\s*/?>")
# Control characters other than tab, newline and carriage return: never prompt text.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def is_schema_tag(name: str) -> bool:
    return name in SCHEMA_TAGS or bool(_CHARACTER_TAG.match(name))


def position(text: str, index: int) -> tuple[int, int]:
    """(line, column) of `index` in `text`, both from 1."""
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1

