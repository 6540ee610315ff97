"""Which system prompt Gemma sees, and the check a prompt passes before encoding.

NewBie was trained with two system prompts, Gemma only: one for XML captions, one
for tags or natural language; ComfyUI's NewBie template writes a third inline, before
the JSON form. Jina CLIP sees the prompt alone. A system prompt written in the prompt
(ending in `<Prompt Start>`) is used as it is and never doubled; otherwise the
negative prompt gets none.
"""
from __future__ import annotations

import logging

from .json_form import parse_json_prompt
from .parser import parse_xml
from .schema import PromptError
from .shapes import masked, prompt_shape, split_system_prompt

log = logging.getLogger(__name__)

DEFAULT_SYSTEM_PROMPT = ("You are an assistant designed to generate high-quality anime images "
                         "based on xml format prompts. <Prompt Start> ")
TEXTUAL_SYSTEM_PROMPT = ("You are an assistant designed to generate high-quality anime images "
                         "with the highest degree of image-text alignment based on textual "
                         "prompts. <Prompt Start> ")
TEMPLATE_SYSTEM_PROMPT = ("You are an assistant designed to generate high-quality anime images "
                          "with the highest degree of image-text alignment based on xml format "
                          "textual prompts. <Prompt Start>\n")
SYSTEM_PROMPTS = {"xml": DEFAULT_SYSTEM_PROMPT, "textual": TEXTUAL_SYSTEM_PROMPT,
                  "template": TEMPLATE_SYSTEM_PROMPT}
SYSTEM_PROMPT_MODES = ("auto", "xml", "textual", "template", "as typed")
# Which one `auto` picks for each prompt shape, and how the info line says why.
_AUTO = {"xml": ("xml", "XML prompt"), "text": ("textual", "tags or natural language"),
         "json": ("template", "JSON form, as ComfyUI's NewBie template")}
XML_CHECKS = ("auto", "off")
GEMMA_MAX_TOKENS = 512  # the training cut, system prompt included


def system_prompt_for(prompt: str) -> tuple[str, str]:
    """(kind, system prompt) `auto` picks by the prompt's shape: the XML one (as in
    training) for XML, the textual one for tags or natural language, the template's for
    the JSON form."""
    kind = _AUTO[prompt_shape(split_system_prompt(prompt)[1])][0]
    return kind, SYSTEM_PROMPTS[kind]


def choose_system_prompt(prompt: str, mode: str, typed: str = "") -> tuple[str, str]:
    """(system prompt, how it was chosen) for the positive prompt: none to add when the
    prompt carries its own. An unknown mode is read as `auto`."""
    inline, _ = split_system_prompt(prompt)
    if inline:
        if mode != "auto":
            log.warning("NewBie: the prompt starts with its own system prompt, so "
                        "system_prompt_mode %r adds none", mode)
        return "", f"from the prompt ({len(inline.rstrip())} characters)"
    if mode == "as typed":
        return typed, f"as typed ({len(typed)} characters)" if typed else "none (as typed)"
    if mode in SYSTEM_PROMPTS:
        return SYSTEM_PROMPTS[mode], f"{mode} (chosen)"
    kind, why = _AUTO[prompt_shape(prompt)]
    if typed.strip() and typed not in SYSTEM_PROMPTS.values():
        log.warning("NewBie: system_prompt_mode is auto, so the system_prompt text is not "
                    "used; set the mode to 'as typed' to use it")
    return SYSTEM_PROMPTS[kind], f"{kind} (auto: {why})"


def tower_texts(prompt: str, system_prompt: str | None) -> tuple[str, str]:
    """(Gemma's text, Jina's text): the system prompt reaches Gemma only. A prompt that
    starts with its own goes to Gemma as typed (`system_prompt` is not added) and to Jina
    without it."""
    inline, rest = split_system_prompt(prompt)
    if inline:
        return prompt, rest
    return (system_prompt or "") + prompt, prompt


def check_prompt(text: str, xml_check: str, which: str) -> None:
    """Text the tokenizers can take (no lone surrogates), and with xml_check `auto`, a
    prompt in the XML format must have its tags balanced (no DTD, no entities), and one
    in the JSON form must read as that form with valid XML inside. Positions are in the
    text as typed. Raises PromptError naming the input."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise PromptError(f"'{which}' holds an invalid character (U+{ord(text[err.start]):04X}, "
                          f"a lone surrogate) at position {err.start}; remove it.") from None
    if xml_check != "auto":
        return
    inline, body = split_system_prompt(text)
    shape = prompt_shape(body)
    try:
        if shape == "json":
            form = parse_json_prompt(masked(text, len(inline), len(text)))
            try:
                parse_xml(masked(text, form.tags_at, form.tags_at + len(form.tags)))
            except PromptError as err:
                raise PromptError(f"JSON form: the XML in image.tags: {err.message}", err.line,
                                  err.column) from None
        elif shape == "xml":
            parse_xml(masked(text, len(inline), len(text)))
    except PromptError as err:
        what = f"'{which}'" if shape == "json" else f"'{which}' looks like XML but is not valid"
        refused = PromptError(f"{what}: {err}. Fix it, or set xml_check to off to encode it "
                              "as plain text.")
        refused.line, refused.column = err.line, err.column
        raise refused from None


def token_info(label: str, count: int, max_tokens: int) -> str:
    """The encode node's info line: the system prompt used and the Gemma count."""
    info = f"system prompt: {label}; Gemma: {count} / {max_tokens} tokens"
    if count > max_tokens:
        info += f"; cut: {count - max_tokens} tokens dropped, as in training"
    return info
