"""Reads NewBie XML prompts back into NewBiePrompt data.

The parser resolves no entities, loads no DTD and never touches the network;
DOCTYPE and ENTITY declarations are refused outright. Unknown elements are kept
as `extra` (lenient, the default) or rejected (strict).
"""
from __future__ import annotations

import re

from lxml import etree

from .schema import Character, GeneralTags, NewBiePrompt, PromptError, _Block

_WRAP_OPEN, _WRAP_CLOSE = "<newbie-prompt>", "</newbie-prompt>"
_DECLARATION = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")
_CHARACTER = re.compile(r"^character_(\d+)$")
# The ComfyUI-Newbie-Nodes builder wraps everything in <image>; read through it.
_WRAPPERS = ("image",)
_LXML_POSITION = re.compile(r",? line \d+, column \d+\s*$")
_UNCLOSED = re.compile(r"Opening and ending tag mismatch: (\S+) line (\d+) and newbie-prompt")


def _position(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


class _Reader:
    def __init__(self, text: str, strict: bool):
        self.text = text
        self.lines = text.split("\n")
        self.strict = strict

    def where(self, el) -> tuple[int, int | None]:
        """Line and column of an element's start tag (column from the raw line)."""
        line = el.sourceline or 1
        raw = self.lines[line - 1] if line <= len(self.lines) else ""
        col = raw.find(f"<{el.tag}")
        if line == 1 and raw.startswith(_WRAP_OPEN):
            col -= len(_WRAP_OPEN)
        return line, (col + 1 if col >= 0 else None)

    def fail(self, message: str, el) -> PromptError:
        return PromptError(message, *self.where(el))

    def stray_text(self, text: str | None, inside: str):
        if text and text.strip():
            snippet = text.strip()[:40]
            found = self.text.find(snippet)
            where = _position(self.text, found) if found >= 0 else (None, None)
            raise PromptError(f"text {snippet!r} outside any element in {inside}", *where)

    def leaf_text(self, el, inside: str) -> str:
        if len(el):
            raise self.fail(f"<{el.tag}> in {inside} holds elements; expected text", el)
        return (el.text or "").strip()

    def block(self, el, cls: type[_Block]) -> _Block:
        self.stray_text(el.text, f"<{el.tag}>")
        known = set(cls.known_fields())
        values: dict[str, str] = {}
        extra: dict[str, str] = {}
        for child in el:
            self.stray_text(child.tail, f"<{el.tag}>")
            name, text = child.tag, self.leaf_text(child, f"<{el.tag}>")
            if name not in known and self.strict:
                raise self.fail(f"unknown element <{name}> in <{el.tag}>; expected one of "
                                + ", ".join(cls.known_fields()), child)
            target = values if name in known else extra
            if name in target:
                if self.strict:
                    raise self.fail(f"<{name}> appears twice in <{el.tag}>", child)
                text = ", ".join(t for t in (target[name], text) if t)
            target[name] = text
        return cls(**values, extra=extra)

    def prompt(self, root) -> NewBiePrompt:
        numbered: list[tuple[int, Character]] = []
        general: GeneralTags | None = None
        caption = ""
        extra: dict[str, str] = {}
        self.stray_text(root.text, "the prompt")
        children = list(root)
        while children:
            el = children.pop(0)
            self.stray_text(el.tail, "the prompt")
            match = _CHARACTER.match(el.tag)
            if match:
                numbered.append((int(match.group(1)), self.block(el, Character)))
            elif el.tag == "general_tags":
                if general is not None and self.strict:
                    raise self.fail("<general_tags> appears twice", el)
                more = self.block(el, GeneralTags)
                general = more if general is None else _merge(general, more)
            elif el.tag == "caption":
                caption = ", ".join(t for t in (caption, self.leaf_text(el, "the prompt")) if t)
            elif el.tag in _WRAPPERS and not self.strict:
                self.stray_text(el.text, f"<{el.tag}>")
                children[:0] = list(el)
            elif self.strict:
                raise self.fail(f"unknown element <{el.tag}>; expected <character_N>, "
                                "<general_tags> or <caption>", el)
            else:
                extra[el.tag] = self.leaf_text(el, "the prompt")
        numbers = [n for n, _ in numbered]
        if self.strict and numbers != list(range(1, len(numbers) + 1)):
            raise PromptError(f"characters must be numbered 1..{len(numbers)} in order, "
                              f"found {numbers}")
        numbered.sort(key=lambda pair: pair[0])
        return NewBiePrompt(characters=[c for _, c in numbered],
                            general_tags=general or GeneralTags(), caption=caption, extra=extra)


def _merge(a: _Block, b: _Block) -> _Block:
    joined = {}
    for name, text in [*a.items(), *b.items()]:
        joined[name] = ", ".join(t for t in (joined.get(name, ""), text) if t)
    return type(a).from_dict(joined)


def parse_xml(text: str, strict: bool = False) -> NewBiePrompt:
    """Parse a NewBie XML prompt; raises PromptError with line and column."""
    if not isinstance(text, str):
        raise PromptError(f"expected XML text, got {type(text).__name__}")
    declared = _DECLARATION.search(text)
    if declared:
        raise PromptError("DOCTYPE and ENTITY declarations are not allowed in a prompt",
                          *_position(text, declared.start()))
    # Blank out an XML declaration in place so positions stay true.
    text = _XML_DECL.sub(lambda m: " " * len(m.group(0)), text)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=False, remove_comments=True, remove_pis=True)
    try:
        root = etree.fromstring(_WRAP_OPEN + text + _WRAP_CLOSE, parser)
    except etree.XMLSyntaxError as err:
        line, col = err.position
        if line == 1:
            col -= len(_WRAP_OPEN)
        message = _LXML_POSITION.sub("", str(err.msg))
        unclosed = _UNCLOSED.match(message)
        if unclosed:
            message = f"<{unclosed.group(1)}> opened on line {unclosed.group(2)} is never closed"
            line, col = _position(text, len(text))
        raise PromptError(f"malformed XML: {message}", line, max(col, 1)) from None
    return _Reader(text, strict).prompt(root)
