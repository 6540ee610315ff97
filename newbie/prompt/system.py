"""Which system prompt Gemma sees, and the check a prompt passes before encoding.

NewBie was trained with two system prompts, Gemma only: one for XML captions, one
for tags or natural language. Jina CLIP sees the prompt alone; the negative prompt
gets no system prompt.
"""
from __future__ import annotations

import logging

from .parser import looks_like_xml, parse_xml
from .schema import PromptError

log = logging.getLogger(__name__)

DEFAULT_SYSTEM_PROMPT = ("You are an assistant designed to generate high-quality anime images "
                         "based on xml format prompts. <Prompt Start> ")
TEXTUAL_SYSTEM_PROMPT = ("You are an assistant designed to generate high-quality anime images "
                         "with the highest degree of image-text alignment based on textual "
                         "prompts. <Prompt Start> ")
SYSTEM_PROMPTS = {"xml": DEFAULT_SYSTEM_PROMPT, "textual": TEXTUAL_SYSTEM_PROMPT}
SYSTEM_PROMPT_MODES = ("auto", "xml", "textual", "as typed")
XML_CHECKS = ("auto", "off")
GEMMA_MAX_TOKENS = 512  # the training cut, system prompt included


def system_prompt_for(prompt: str) -> tuple[str, str]:
    """(kind, system prompt) as in training: the XML one for a prompt in the XML format,
    the textual one for tags or natural language."""
    kind = "xml" if looks_like_xml(prompt) else "textual"
    return kind, SYSTEM_PROMPTS[kind]


def choose_system_prompt(prompt: str, mode: str, typed: str = "") -> tuple[str, str]:
    """(system prompt, how it was chosen) for the positive prompt. An unknown mode is
    read as `auto`."""
    if mode == "as typed":
        return typed, f"as typed ({len(typed)} characters)" if typed else "none (as typed)"
    if mode in SYSTEM_PROMPTS:
        return SYSTEM_PROMPTS[mode], f"{mode} (chosen)"
    kind, chosen = system_prompt_for(prompt)
    if typed.strip() and typed not in SYSTEM_PROMPTS.values():
        log.warning("NewBie: system_prompt_mode is auto, so the system_prompt text is not "
                    "used; set the mode to 'as typed' to use it")
    why = "XML prompt" if kind == "xml" else "tags or natural language"
    return chosen, f"{kind} (auto: {why})"


def tower_texts(prompt: str, system_prompt: str | None) -> tuple[str, str]:
    """(Gemma's text, Jina's text): the system prompt reaches Gemma only."""
    return (system_prompt or "") + prompt, prompt


def check_prompt(text: str, xml_check: str, which: str) -> None:
    """Text the tokenizers can take (no lone surrogates), and with xml_check `auto`, a
    prompt that uses the XML format's tags must have them balanced (no DTD, no
    entities). Raises PromptError naming the input."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise PromptError(f"'{which}' holds an invalid character (U+{ord(text[err.start]):04X}, "
                          f"a lone surrogate) at position {err.start}; remove it.") from None
    if xml_check == "auto" and looks_like_xml(text):
        try:
            parse_xml(text)
        except PromptError as err:
            raise PromptError(f"'{which}' looks like XML but is not valid: {err}. Fix it, or "
                              "set xml_check to off to encode it as plain text.") from None


def token_info(label: str, count: int, max_tokens: int) -> str:
    """The encode node's info line: the system prompt used and the Gemma count."""
    info = f"system prompt: {label}; Gemma: {count} / {max_tokens} tokens"
    if count > max_tokens:
        info += f"; cut: {count - max_tokens} tokens dropped, as in training"
    return info
