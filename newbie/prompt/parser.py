"""Reads NewBie XML prompts back into NewBiePrompt data.

NewBie's prompts are plain text shaped like XML: the official code hands Gemma
`system_prompt + caption` as typed, so `>_<`, `<3`, `&` or `\\(` are text, not
markup. Only the format's own element names (`newbie.prompt.schema.SCHEMA_TAGS` and
`character_N`) are markup inside an element; between elements, any `<name>` opens an
element kept as `extra` (lenient, the default) or rejected (strict). Text comes back
exactly as written, trimmed: no entity is resolved, nothing is loaded or fetched.
DOCTYPE and ENTITY declarations are refused outright. Positions are line and column.
"""
from __future__ import annotations

import re

from .schema import (CONTAINER_TAGS, CONTROL, TAG, Character, GeneralTags, NewBiePrompt,
                     PromptError, _Block, is_schema_tag, position)

MAX_PROMPT_CHARS = 1_000_000
_DECLARATION = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_CHARACTER = re.compile(r"^character_(\d+)$")
_OPEN = re.compile(r"<([A-Za-z_][A-Za-z0-9_.\-]*)\s*(/?)>")
_CLOSE = re.compile(r"</([A-Za-z_][A-Za-z0-9_.\-]*)\s*>")
# The ComfyUI-Newbie-Nodes builder wraps everything in <image>; read through it.
_WRAPPERS = ("image",)


def looks_like_xml(text: str) -> bool:
    """Whether `text` uses the XML format: it holds at least one of the format's tags.
    A tag prompt such as `<3, 1girl, smile` does not."""
    return any(is_schema_tag(m.group(1)) for m in TAG.finditer(text))


class _Element:
    def __init__(self, tag: str, start: int):
        self.tag, self.start = tag, start
        self.text = ""
        self.children: list[_Element] = []


class _Scanner:
    """One pass over the text: containers hold elements, leaves hold raw text."""

    def __init__(self, text: str):
        self.text = text

    def error(self, message: str, index: int) -> PromptError:
        return PromptError(message, *position(self.text, index))

    def skip_space(self, i: int) -> int:
        while i < len(self.text) and self.text[i].isspace():
            i += 1
        return i

    def skip_comment(self, i: int) -> int | None:
        """The index after a comment or an `<?...?>` declaration starting at i, if any."""
        for opener, closer, what in (("<!--", "-->", "a comment"),
                                     ("<?", "?>", "a <? ... ?> declaration")):
            if self.text.startswith(opener, i):
                end = self.text.find(closer, i + len(opener))
                if end < 0:
                    raise self.error(f"{what} is never closed", i)
                return end + len(closer)
        return None

    def container(self, element: _Element, i: int) -> int:
        """Read children until `</tag>` (or the end, for the top level); the index after."""
        text, top = self.text, element.tag == ""
        while True:
            i = self.skip_space(i)
            if i >= len(text):
                if top:
                    return i
                raise self.error(f"<{element.tag}> opened on line "
                                 f"{position(text, element.start)[0]} is never closed", i)
            skipped = self.skip_comment(i)
            if skipped is not None:
                i = skipped
                continue
            close = _CLOSE.match(text, i)
            if close:
                if close.group(1) == element.tag:
                    return close.end()
                expected = f"</{element.tag}>" if not top else "an opening tag"
                raise self.error(f"mismatch: </{close.group(1)}> where {expected} was "
                                 "expected", i)
            opened = _OPEN.match(text, i)
            if not opened:
                snippet = text[i:].split("\n", 1)[0].strip()[:40]
                inside = "the prompt" if top else f"<{element.tag}>"
                raise self.error(f"text {snippet!r} outside any element in {inside}", i)
            child = _Element(opened.group(1), i)
            element.children.append(child)
            if opened.group(2):  # <name/>: an empty element
                i = opened.end()
            elif child.tag in CONTAINER_TAGS or _CHARACTER.match(child.tag):
                if not top and element.tag not in _WRAPPERS:
                    raise self.error(f"<{child.tag}> cannot be inside <{element.tag}>", i)
                i = self.container(child, opened.end())
            else:
                i = self.leaf(child, opened.end())

    def leaf(self, element: _Element, i: int) -> int:
        """Raw text until `</tag>`; only the format's own tags are markup in it."""
        text, start = self.text, i
        for tag in TAG.finditer(text, i):
            name, closing = tag.group(1), tag.group(0).startswith("</")
            if closing and name == element.tag:
                element.text = text[start:tag.start()]
                return tag.end()
            if is_schema_tag(name):
                where = f"</{name}>" if closing else f"<{name}>"
                raise self.error(f"<{element.tag}> opened on line "
                                 f"{position(text, element.start)[0]} is not closed before "
                                 f"{where}", tag.start())
        raise self.error(f"<{element.tag}> opened on line {position(text, element.start)[0]} "
                         "is never closed", len(text))


class _Reader:
    """Scanned elements -> NewBiePrompt, with the lenient/strict rules."""

    def __init__(self, scanner: _Scanner, strict: bool):
        self.scanner, self.strict = scanner, strict

    def fail(self, message: str, el: _Element) -> PromptError:
        return self.scanner.error(message, el.start)

    def leaf_text(self, el: _Element, inside: str) -> str:
        if el.children:
            raise self.fail(f"<{el.tag}> in {inside} holds elements; expected text", el)
        return el.text.strip()

    def block(self, el: _Element, cls: type[_Block]) -> _Block:
        known = set(cls.known_fields())
        values: dict[str, str] = {}
        extra: dict[str, str] = {}
        for child in el.children:
            if child.children or _CHARACTER.match(child.tag) or child.tag in CONTAINER_TAGS:
                raise self.fail(f"<{child.tag}> cannot be inside <{el.tag}>", child)
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

    def prompt(self, root: _Element) -> NewBiePrompt:
        numbered: list[tuple[int, Character]] = []
        general: GeneralTags | None = None
        caption = ""
        extra: dict[str, str] = {}
        children = list(root.children)
        while children:
            el = children.pop(0)
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
                children[:0] = el.children
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
    if len(text) > MAX_PROMPT_CHARS:
        raise PromptError(f"the prompt has {len(text)} characters; at most "
                          f"{MAX_PROMPT_CHARS} are read")
    declared = _DECLARATION.search(text)
    if declared:
        raise PromptError("DOCTYPE and ENTITY declarations are not allowed in a prompt",
                          *position(text, declared.start()))
    control = CONTROL.search(text)
    if control:
        raise PromptError(f"control character U+{ord(control.group(0)):04X} is not allowed "
                          "in a prompt", *position(text, control.start()))
    scanner = _Scanner(text)
    root = _Element("", 0)
    scanner.container(root, 0)
    return _Reader(scanner, strict).prompt(root)
