"""The shapes a NewBie prompt comes in, and where its parts go.

- XML alone, or tags / natural language;
- a leading system prompt written inline, ending in `<Prompt Start>` (ComfyUI's NewBie
  template does this): Gemma gets the text as typed, Jina the rest, and no second
  system prompt is added;
- the JSON form: `{"character_1": {"bbox": [...], "name": ...}, "image": {"tags":
  "<the XML>", "caption": "..."}}`, read by `newbie.prompt.json_form`.
"""
from __future__ import annotations

import re

from .json_form import Box, json_to_prompt, parse_json_prompt
from .parser import looks_like_xml, parse_xml
from .schema import GeneralTags, NewBiePrompt

PROMPT_START = "<Prompt Start>"
# The JSON form opens with an object whose first key is quoted; `{masterpiece}` (a
# weighted tag) does not.
_JSON_OPEN = re.compile(r'\A\s*\{\s*"')
# Text before the marker that is a system prompt, not markup or the JSON form.
_STRUCTURE = re.compile(r'[{}]')
_NOT_NEWLINE = re.compile(r'[^\n]')
# A sentence: a word, a full stop and a space or the end (a tag list has none).
_SENTENCE = re.compile(r'[A-Za-z]{2}[.!?](\s|$)')


def split_system_prompt(text: str) -> tuple[str, str]:
    """(inline system prompt, the rest). The system prompt runs through `<Prompt Start>`
    and the white space after it, so both parts joined give the text back; ("", text)
    when the text does not start with one."""
    at = text.find(PROMPT_START)
    if at < 0:
        return "", text
    head = text[:at]
    if not head.strip() or looks_like_xml(head) or _STRUCTURE.search(head):
        return "", text
    end = at + len(PROMPT_START)
    while end < len(text) and text[end].isspace():
        end += 1
    return text[:end], text[end:]


def prompt_shape(body: str) -> str:
    """'json', 'xml' or 'text' for a prompt without its inline system prompt."""
    if _JSON_OPEN.match(body):
        return "json"
    return "xml" if looks_like_xml(body) else "text"


def masked(text: str, start: int, end: int) -> str:
    """`text` with everything outside [start, end) blanked (newlines kept), so a part is
    parsed where it stands and errors carry their line and column in the whole text."""
    return (_NOT_NEWLINE.sub(" ", text[:start]) + text[start:end]
            + _NOT_NEWLINE.sub(" ", text[end:]))


def read_prompt(text: str) -> tuple[NewBiePrompt, list[Box | None], str]:
    """Any prompt shape as (NewBiePrompt, each character's box, the inline system prompt),
    for filling the slot editor. Tags or natural language land in the caption (text
    with a sentence in it) or in general_tags.other (a tag list). PromptError with line
    and column in `text` for what cannot be read."""
    inline, body = split_system_prompt(text)
    shape = prompt_shape(body)
    if shape == "json":
        form = parse_json_prompt(masked(text, len(inline), len(text)))
        form.tags = masked(text, form.tags_at, form.tags_at + len(form.tags))
        prompt, boxes = json_to_prompt(form)
    elif shape == "xml":
        prompt = parse_xml(masked(text, len(inline), len(text)))
        boxes = [None] * len(prompt.characters)
    else:
        prose = _SENTENCE.search(body)
        prompt = NewBiePrompt(caption=body) if prose else NewBiePrompt(
            general_tags=GeneralTags(other=body))
        boxes = []
    return prompt, boxes, inline
