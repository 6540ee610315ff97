"""Text encoding to CONDITIONING in ComfyUI's layout for NewBie."""
from __future__ import annotations

from comfy_api.latest import io

from ..newbie.models.text_encoders import DEFAULT_SYSTEM_PROMPT, GEMMA_MAX_TOKENS
from .common import CATEGORY, NewBieTextEncoders, text_input


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
            ],
            outputs=[io.Conditioning.Output(display_name="positive"),
                     io.Conditioning.Output(display_name="negative")],
        )

    @classmethod
    def execute(cls, text_encoders, text: str, negative: str, system_prompt: str,
                max_tokens: int) -> io.NodeOutput:
        positive = text_encoders.encode([text], system_prompt=system_prompt,
                                        gemma_max_tokens=max_tokens)
        negative = text_encoders.encode([negative], system_prompt=None,
                                        gemma_max_tokens=max_tokens)
        return io.NodeOutput(to_conditioning(*positive), to_conditioning(*negative))


ENCODE_NODES = [NewBieTextEncode]
