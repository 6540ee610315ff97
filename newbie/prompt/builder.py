"""Writes a NewBiePrompt in the official XML layout (newbie-model.md §5).

    <character_1>            one block per character, numbered from 1
    <n>name</n>              one element a line; <n> always written
    ...                      empty elements dropped
    </character_1>
                             a blank line between blocks
    <general_tags>...</general_tags>

    <caption>...</caption>   only when given
"""
from __future__ import annotations

import logging
import re

from lxml import etree

from .schema import NewBiePrompt, PromptError, _Block
from .tags import tidy_tags

log = logging.getLogger(__name__)

# Characters XML 1.0 cannot carry at all, even escaped.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def _element(tag: str, text: str, where: str) -> str:
    if not _NAME.match(tag):
        raise PromptError(f"{where}: {tag!r} is not a valid XML element name")
    if _NOT_XML.search(text):
        log.warning("%s <%s>: dropped control characters XML cannot carry", where, tag)
        text = _NOT_XML.sub("", text)
    el = etree.Element(tag)
    el.text = text
    # lxml writes <n/> for empty text; the official layout writes <n></n>.
    return etree.tostring(el, encoding="unicode") if text else f"<{tag}></{tag}>"


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
