"""Text encoding to CONDITIONING in ComfyUI's layout for NewBie."""
from __future__ import annotations

import logging

import torch

from comfy_api.latest import io

from ..newbie.models.text_encoders import DEFAULT_SYSTEM_PROMPT, GEMMA_MAX_TOKENS
from ..newbie.prompt import PromptError, parse_xml
from .input_checks import checked_inputs
from .common import CATEGORY, NewBieTextEncoders, non_finite_cause, text_input
from .memory import on_compute_device

log = logging.getLogger(__name__)
XML_CHECKS = ("auto", "off")


def check_prompt(text: str, mode: str, which: str) -> None:
    """Text the tokenizers can take (no lone surrogates), and with `auto`, text that
    starts like XML must parse (securely: no DTD, no entities)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(f"NewBie Text Encode: '{which}' holds an invalid character "
                         f"(U+{ord(text[err.start]):04X}, a lone surrogate) at position "
                         f"{err.start}; remove it.") from None
    if mode == "auto" and text.lstrip().startswith("<"):
        try:
            parse_xml(text)
        except PromptError as err:
            raise ValueError(f"NewBie Text Encode: '{which}' looks like XML but is not valid: "
                             f"{err}. Fix it, or set xml_check to off to encode it as "
                             "plain text.") from None


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
                        "the prompt alone; the negative gets no system prompt, as in training.",
            inputs=[
                NewBieTextEncoders.Input("text_encoders"),
                text_input("text", "The prompt: NewBie XML, tags or natural language.",
                           multiline=True),
                text_input("negative", "Negative prompt. The official demo leaves it empty.",
                           multiline=True),
                text_input("system_prompt", "Prepended to the prompt for Gemma only. Default: "
                           "the XML system prompt NewBie was trained with.", multiline=True,
                           default=DEFAULT_SYSTEM_PROMPT),
                io.Int.Input("max_tokens", default=GEMMA_MAX_TOKENS, min=8, max=8192,
                             tooltip="Gemma token limit (system prompt included); training "
                                     "used 512. Longer prompts are cut with a warning."),
                io.Combo.Input("xml_check", options=list(XML_CHECKS), default="auto",
                               optional=True,
                               tooltip="auto: a prompt that starts with '<' must be well-formed "
                                       "XML (line and column on error; DOCTYPE/entities "
                                       "refused). off: encode any text as it is."),
            ],
            outputs=[io.Conditioning.Output(display_name="positive"),
                     io.Conditioning.Output(display_name="negative")],
        )

    # The XML check runs with the node, not in validate_inputs: ComfyUI skips its own
    # checks of the inputs a validator names, and repeats its one message per input.
    @classmethod
    @checked_inputs
    def execute(cls, text_encoders, text: str, negative: str, system_prompt: str,
                max_tokens: int, xml_check: str = "auto") -> io.NodeOutput:
        check_prompt(text, xml_check, "text")
        check_prompt(negative, xml_check, "negative")
        check_prompt(system_prompt, "off", "system_prompt")
        if not text.strip():
            log.warning("NewBie Text Encode: the prompt is empty; the image will follow the "
                        "system prompt and the model's prior only")
        # Encoders loaded for the compute device visit it only while encoding.
        with on_compute_device(text_encoders):
            positive = text_encoders.model.encode([text], system_prompt=system_prompt,
                                            gemma_max_tokens=max_tokens)
            negative = text_encoders.model.encode([negative], system_prompt=None,
                                            gemma_max_tokens=max_tokens)
        outputs = [t for t in (*positive, *negative) if t.is_floating_point()]
        if not all(torch.isfinite(t).all() for t in outputs):
            raise FloatingPointError("NewBie Text Encode: the encoders' output holds NaN or "
                                     f"infinite values; {non_finite_cause(text_encoders)}")
        return io.NodeOutput(to_conditioning(*positive), to_conditioning(*negative))


ENCODE_NODES = [NewBieTextEncode]
