"""NewBie Prompt Writer: Gemma 3 from the loaded text encoders writes the XML prompt."""
from __future__ import annotations

import logging

from comfy_api.latest import io

from ..comfy_glue import writer
from ..newbie.models.writer import WRITER_SYSTEM_PROMPT
from .common import PROMPT, text_input
from .input_checks import checked_inputs

log = logging.getLogger(__name__)


class NewBiePromptWriter(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="NewBiePromptWriter",
            display_name="NewBie Prompt Writer",
            category=PROMPT,
            description="Turns a description or a tag list into a NewBie XML prompt with the "
                        "Gemma 3 of Load NewBie Text Encoders (its last layer, which encoding "
                        "skips, is read from the same file). With format_lock on, decoding "
                        "is held to the XML layout, so the result always parses. Feed it to "
                        "NewBie XML Prompt's prompt input or to NewBie Text Encode.",
            inputs=[
                io.Clip.Input("clip", tooltip="Load NewBie Text Encoders' CLIP."),
                text_input("request", "What to draw: a description, a tag list, or both.",
                           multiline=True),
                text_input("current_prompt", "Optional: a prompt to revise (XML or any "
                           "shape); the request then says what to change.", multiline=True,
                           optional=True),
                text_input("system_prompt", "The instructions Gemma gets before the request "
                           "(Gemma has no system role: they open the user turn).",
                           multiline=True, default=WRITER_SYSTEM_PROMPT, optional=True),
                io.Int.Input("max_tokens", default=512, min=16, max=4096,
                             tooltip="Most tokens to write; a cut-short prompt is closed "
                                     "so it still parses."),
                io.Float.Input("temperature", default=0.0, min=0.0, max=2.0, step=0.05,
                               tooltip="0: greedy (the same text every run). Above 0: "
                                       "sampled with the seed."),
                io.Int.Input("top_k", default=40, min=0, max=1000,
                             tooltip="When sampling, only the k likeliest tokens (0: all)."),
                io.Int.Input("seed", default=0, min=0, max=0xffffffffffffffff,
                             control_after_generate=True, tooltip="The sampling seed."),
                io.Boolean.Input("format_lock", default=True,
                                 tooltip="Hold the output to NewBie's XML layout (always "
                                         "parses). Off: Gemma writes freely."),
            ],
            outputs=[io.String.Output(display_name="prompt",
                                      tooltip="The prompt Gemma wrote.")],
        )

    @classmethod
    @checked_inputs
    def execute(cls, clip, request: str, max_tokens: int, temperature: float, top_k: int,
                seed: int, format_lock: bool, current_prompt: str = "",
                system_prompt: str = WRITER_SYSTEM_PROMPT) -> io.NodeOutput:
        if not request.strip() and not current_prompt.strip():
            raise ValueError("NewBie Prompt Writer: 'request' is empty; say what to draw")
        text = request.strip()
        if current_prompt.strip():
            text = f"{text}\n\nThe current prompt:\n{current_prompt.strip()}"
        prompt, count = writer.write(clip, text, system_prompt, max_tokens, temperature, top_k,
                                     seed, format_lock)
        log.info("NewBie Prompt Writer: %d tokens written", count)
        return io.NodeOutput(prompt, ui={"text": [prompt]})


WRITER_NODES = [NewBiePromptWriter]
