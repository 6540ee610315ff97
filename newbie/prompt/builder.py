"""Writes a NewBiePrompt in the official XML layout (the one NewBie's training
captions use).

    <character_1>            one block per character, numbered from 1
    <n>name</n>              one element a line; <n> always written
    ...                      empty elements dropped
    </character_1>
                             a blank line between blocks
    <general_tags>...</general_tags>

    <caption>...</caption>   only when given

Text goes in exactly as typed: the official code builds Gemma's input by plain string
concatenation and escapes nothing, so `>_<` reaches the model as `>_<`.
"""
from __future__ import annotations

import logging
import re

from .schema import CONTROL, TAG, NewBiePrompt, PromptError, _Block, is_schema_tag
from .tags import tidy_tags

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def _element(tag: str, text: str, where: str) -> str:
    """`<tag>text</tag>` with the text as typed (the official code escapes nothing), so
    text may not hold the format's own tags, nor this element's closing tag."""
    if not _NAME.match(tag):
        raise PromptError(f"{where}: {tag!r} is not a valid element name")
    if CONTROL.search(text):  # copy-paste debris: dropped with a warning
        log.warning("%s <%s>: dropped control characters", where, tag)
        text = CONTROL.sub("", text)
    for found in TAG.finditer(text):
        own_close = found.group(1) == tag and found.group(0).startswith("</")
        if is_schema_tag(found.group(1)) or own_close:
            raise PromptError(f"{where} <{tag}>: the text holds {found.group(0)!r}, a tag of the "
                              "prompt format; remove it")
    return f"<{tag}>{text}</{tag}>"


def _block(tag: str, block: _Block, tidy: bool, keep: tuple[str, ...] = ()) -> str | None:
    """The block's XML, or None when it has no element to write."""
    elements = []
    for name, text in block.items():
        if tidy:
            text = tidy_tags(text)
        if text or name in keep:
            elements.append(_element(name, text, tag))
    return "\n".join([f"<{tag}>", *elements, f"</{tag}>"]) if elements else None


def build_xml(prompt: NewBiePrompt, tidy: bool = False) -> str:
    """The XML text for `prompt`; `tidy=True` also tidies the tags (not the caption)."""
    if isinstance(prompt, dict):
        prompt = NewBiePrompt.from_dict(prompt)
    blocks = [_block(f"character_{i}", c, tidy, keep=("n",))
              for i, c in enumerate(prompt.characters, start=1)]
    general = _block("general_tags", prompt.general_tags, tidy)
    if general:
        blocks.append(general)
    if prompt.caption:
        blocks.append(_element("caption", prompt.caption, "prompt"))
    blocks += [_element(name, text, "prompt") for name, text in prompt.extra.items() if text]
    return "\n\n".join(blocks)
