"""Text encoding to CONDITIONING in ComfyUI's layout for NewBie."""
from __future__ import annotations

import logging

import torch
from comfy_api.latest import io

from ..comfy_glue import clip as newbie_clip
from ..newbie.prompt import (GEMMA_MAX_TOKENS, SYSTEM_PROMPT_MODES, XML_CHECKS, PromptError,
                             check_prompt, choose_system_prompt, split_system_prompt,
                             token_info)
from .common import PROMPT, text_input
from .input_checks import InputError, checked_inputs

log = logging.getLogger(__name__)


class NewBieTextEncode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="NewBieTextEncode",
            display_name="NewBie Text Encode",
            category=PROMPT,
            description="Encodes the prompt and the negative prompt. Takes XML, tags or "
                        "natural language, and the JSON form of ComfyUI's NewBie template. "
                        "Gemma sees the system prompt + prompt; Jina CLIP sees the prompt "
                        "alone. The system prompt follows the prompt's shape by default (XML, "
                        "tags or natural language, JSON form). A prompt that starts with its "
                        "own system prompt (ending in <Prompt Start>) keeps it: Gemma gets the "
                        "text as typed, Jina the rest, nothing is added. The negative gets no "
                        "system prompt unless it starts with its own, as in training.",
            inputs=[
                # Shown as `clip` (its type); the id stays, so saved workflows and API
                # prompts keep connecting by it.
                io.Clip.Input("text_encoders", display_name="clip",
                              tooltip="Load NewBie Text Encoders' CLIP, or core's NewBie CLIP "
                                      "(DualCLIPLoader type newbie, ComfyUI 0.5+)."),
                text_input("text", "The prompt: NewBie XML, tags or natural language, or the "
                           "JSON form; it may start with its own system prompt ending in "
                           "<Prompt Start>.", multiline=True),
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
                                       "have them balanced, and one in the JSON form must read "
                                       "as that form (line and column on error; "
                                       "DOCTYPE/entities refused); any other text, such as "
                                       ">_< or <3, is text. off: encode any text as it is."),
                io.Combo.Input("system_prompt_mode", options=list(SYSTEM_PROMPT_MODES),
                               default="auto", optional=True,
                               tooltip="auto: the system prompt NewBie was trained with for "
                                       "this kind of prompt (XML, or tags / natural language), "
                                       "or the template's for the JSON form. xml / textual / "
                                       "template: that one always. as typed: the "
                                       "system_prompt text. A prompt with its own system "
                                       "prompt keeps it whatever the mode."),
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
        clip = text_encoders
        if not newbie_clip.is_newbie_clip(clip):
            raise ValueError("NewBie Text Encode needs NewBie's text encoders (Load NewBie Text "
                             "Encoders, or core DualCLIPLoader with type newbie); got a CLIP of "
                             f"{newbie_clip.describe(clip)}")
        try:
            check_prompt(text, xml_check, "text")
            check_prompt(negative, xml_check, "negative")
            check_prompt(system_prompt, "off", "system_prompt")
        except PromptError as err:
            raise InputError(f"NewBie Text Encode: {err}") from None
        if not text.strip():
            log.warning("NewBie Text Encode: the prompt is empty; the image will follow the "
                        "system prompt and the model's prior only")
        chosen, label = choose_system_prompt(text, system_prompt_mode, system_prompt)
        negative_note = ("; negative: system prompt from the prompt"
                         if split_system_prompt(negative)[0] else "")
        positive, count = newbie_clip.encode(clip, text, chosen, max_tokens)
        negative, _ = newbie_clip.encode(clip, negative, None, max_tokens)
        info = token_info(label, count, max_tokens) + negative_note
        log.info("NewBie Text Encode: %s", info)
        if count > max_tokens:
            log.warning("NewBie Text Encode: the prompt is %d Gemma tokens long and was "
                        "truncated to %d, as in training", count, max_tokens)
        outputs = [t for cond, extra in (*positive, *negative)
                   for t in (cond, extra.get("pooled_output")) if t is not None]
        if not all(torch.isfinite(t).all() for t in outputs):
            raise FloatingPointError("NewBie Text Encode: the encoders' output holds NaN or "
                                     "infinite values; " + newbie_clip.non_finite_cause(
                                         clip, "load them in bfloat16 or float32"))
        return io.NodeOutput(positive, negative, info, ui={"text": [info]})


ENCODE_NODES = [NewBieTextEncode]
