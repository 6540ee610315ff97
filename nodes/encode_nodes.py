"""Text encoding to CONDITIONING in ComfyUI's layout for NewBie."""
from __future__ import annotations

import logging

import torch

from comfy_api.latest import io

from ..newbie.models.text_encoders import GEMMA_MAX_TOKENS, SYSTEM_PROMPTS, system_prompt_for
from ..newbie.prompt import PromptError, looks_like_xml, parse_xml
from .input_checks import checked_inputs
from .common import CATEGORY, non_finite_cause, out_of_memory, text_input
from . import core_clip
from .memory import Resident, on_compute_device

log = logging.getLogger(__name__)
XML_CHECKS = ("auto", "off")
SYSTEM_PROMPT_MODES = ("auto", "xml", "textual", "as typed")


def choose_system_prompt(prompt: str, mode: str, typed: str) -> tuple[str, str]:
    """(system prompt, how it was chosen) for the positive prompt."""
    if mode == "as typed":
        return typed, f"as typed ({len(typed)} characters)" if typed else "none (as typed)"
    if mode in SYSTEM_PROMPTS:
        return SYSTEM_PROMPTS[mode], f"{mode} (chosen)"
    kind, chosen = system_prompt_for(prompt)
    if typed.strip() and typed not in SYSTEM_PROMPTS.values():
        log.warning("NewBie Text Encode: system_prompt_mode is auto, so the system_prompt "
                    "text is not used; set the mode to 'as typed' to use it")
    why = "XML prompt" if kind == "xml" else "tags or natural language"
    return chosen, f"{kind} (auto: {why})"


def check_prompt(text: str, mode: str, which: str) -> None:
    """Text the tokenizers can take (no lone surrogates), and with `auto`, a prompt that
    uses the XML format's tags must have them balanced (no DTD, no entities)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(f"NewBie Text Encode: '{which}' holds an invalid character "
                         f"(U+{ord(text[err.start]):04X}, a lone surrogate) at position "
                         f"{err.start}; remove it.") from None
    if mode == "auto" and looks_like_xml(text):
        try:
            parse_xml(text)
        except PromptError as err:
            raise ValueError(f"NewBie Text Encode: '{which}' looks like XML but is not valid: "
                             f"{err}. Fix it, or set xml_check to off to encode it as "
                             "plain text.") from None


def token_info(label: str, count: int, max_tokens: int, source: str = "") -> str:
    """The node's info line: the system prompt used and the Gemma count against the limit."""
    info = f"system prompt: {label}; Gemma: {count} / {max_tokens} tokens{source}"
    if count > max_tokens:
        info += f"; cut: {count - max_tokens} tokens dropped, as in training"
    return info


def to_conditioning(cap_feats, cap_mask, pooled) -> list:
    """One entry per prompt: [hidden [1,L,D], {"pooled_output", "attention_mask"}] with
    padding trimmed, as native ComfyUI builds NewBie conditioning."""
    out = []
    for i in range(cap_feats.shape[0]):
        n = int(cap_mask[i].sum())
        out.append([cap_feats[i:i + 1, :n].cpu(),
                    {"pooled_output": pooled[i:i + 1].cpu(),
                     "attention_mask": cap_mask[i:i + 1, :n].long().cpu()}])
    return out


class NewBieTextEncode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="NewBieTextEncode",
            display_name="NewBie Text Encode",
            category=CATEGORY,
            description="Encodes the prompt (usually the XML from NewBie XML Prompt) and the "
                        "negative prompt. Gemma sees the system prompt + prompt; Jina CLIP sees "
                        "the prompt alone; the negative gets no system prompt, as in training. "
                        "The system prompt follows the prompt's kind by default (the XML one "
                        "for XML, the textual one for tags or natural language).",
            inputs=[
                io.Clip.Input("text_encoders",
                              tooltip="Load NewBie Text Encoders' CLIP, or core's NewBie CLIP "
                                      "(DualCLIPLoader type newbie, ComfyUI 0.5+)."),
                text_input("text", "The prompt: NewBie XML, tags or natural language.",
                           multiline=True),
                text_input("negative", "Negative prompt. The official demo leaves it empty.",
                           multiline=True),
                text_input("system_prompt", "Your own system prompt, prepended to the prompt for "
                           "Gemma only; used when system_prompt_mode is 'as typed' (empty: "
                           "none).", multiline=True),
                io.Int.Input("max_tokens", default=GEMMA_MAX_TOKENS, min=8, max=8192,
                             tooltip="Gemma token limit (system prompt included); training "
                                     "used 512. Longer prompts are cut with a warning."),
                io.Combo.Input("xml_check", options=list(XML_CHECKS), default="auto",
                               optional=True,
                               tooltip="auto: a prompt that uses the XML format's tags must "
                                       "have them balanced (line and column on error; "
                                       "DOCTYPE/entities refused); any other text, such as "
                                       ">_< or <3, is text. off: encode any text as it is."),
                io.Combo.Input("system_prompt_mode", options=list(SYSTEM_PROMPT_MODES),
                               default="auto", optional=True,
                               tooltip="auto: the system prompt NewBie was trained with for "
                                       "this kind of prompt (XML, or tags / natural language). "
                                       "xml / textual: that one always. as typed: the "
                                       "system_prompt text."),
            ],
            outputs=[io.Conditioning.Output(display_name="positive"),
                     io.Conditioning.Output(display_name="negative"),
                     io.String.Output(display_name="info",
                                      tooltip="Which system prompt was used, and the Gemma "
                                              "token count against the limit.")],
        )

    # The XML check runs with the node, not in validate_inputs: ComfyUI skips its own
    # checks of the inputs a validator names, and repeats its one message per input.
    @classmethod
    @checked_inputs
    def execute(cls, text_encoders, text: str, negative: str, system_prompt: str,
                max_tokens: int, xml_check: str = "auto",
                system_prompt_mode: str = "auto") -> io.NodeOutput:
        check_prompt(text, xml_check, "text")
        check_prompt(negative, xml_check, "negative")
        check_prompt(system_prompt, "off", "system_prompt")
        if not text.strip():
            log.warning("NewBie Text Encode: the prompt is empty; the image will follow the "
                        "system prompt and the model's prior only")
        chosen, label = choose_system_prompt(text, system_prompt_mode, system_prompt)
        text_encoders = getattr(text_encoders, "newbie", text_encoders)  # our CLIP
        if not isinstance(text_encoders, Resident):
            return cls._with_core_clip(text_encoders, text, negative, chosen, label, max_tokens)
        count = text_encoders.model.gemma_token_count(text, chosen)
        info = token_info(label, count, max_tokens)
        log.info("NewBie Text Encode: %s", info)
        # Encoders loaded for the compute device visit it only while encoding.
        try:
            with on_compute_device(text_encoders):
                positive = text_encoders.model.encode([text], system_prompt=chosen,
                                                      gemma_max_tokens=max_tokens)
                negative = text_encoders.model.encode([negative], system_prompt=None,
                                                      gemma_max_tokens=max_tokens)
        except torch.OutOfMemoryError:
            raise out_of_memory("encoding the prompt", "the text encoders' dtype (bfloat16), "
                                "or set their device to cpu on Load NewBie Text "
                                "Encoders") from None
        outputs = [t for t in (*positive, *negative) if t.is_floating_point()]
        if not all(torch.isfinite(t).all() for t in outputs):
            raise FloatingPointError("NewBie Text Encode: the encoders' output holds NaN or "
                                     f"infinite values; {cls._cause(text_encoders)}")
        return io.NodeOutput(to_conditioning(*positive), to_conditioning(*negative), info,
                             ui={"text": [info]})

    @staticmethod
    def _cause(encoders: Resident) -> str:
        dtype = next(encoders.model.parameters()).dtype
        return non_finite_cause(encoders.model, encoders.sources, dtype,
                                "load them in bfloat16 or float32")

    @classmethod
    def _with_core_clip(cls, clip, text, negative, chosen, label, max_tokens) -> io.NodeOutput:
        if not core_clip.is_core_newbie_clip(clip):
            raise ValueError("NewBie Text Encode needs NewBie's text encoders (Load NewBie Text "
                             "Encoders, or core DualCLIPLoader with type newbie); got a CLIP of "
                             f"{core_clip.describe(clip)}")
        count = sum(len(b) for b in core_clip.gemma_tokens(clip, text, chosen))
        info = token_info(label, count, max_tokens, " (core's CLIP)")
        log.info("NewBie Text Encode: %s", info)
        try:
            positive = core_clip.encode(clip, text, chosen, max_tokens)
            negative = core_clip.encode(clip, negative, None, max_tokens)
        except torch.OutOfMemoryError:
            raise out_of_memory("encoding the prompt", "the text encoders' dtype") from None
        if not all(torch.isfinite(c[0][0]).all() for c in (positive, negative)):
            raise FloatingPointError("NewBie Text Encode: core's NewBie CLIP gave NaN or "
                                     "infinite values; check its files and dtype")
        return io.NodeOutput(positive, negative, info, ui={"text": [info]})


ENCODE_NODES = [NewBieTextEncode]
