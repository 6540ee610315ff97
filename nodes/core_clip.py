"""NewBie's official text routing on core's NewBie CLIP (ComfyUI 0.5 and later:
DualCLIPLoader type `newbie`). Core tokenizes one text for both towers; the official
encoder gives Gemma the system prompt + prompt and Jina the prompt alone, and cuts Gemma
at 512 tokens. So the text is tokenized twice and the Gemma tokens of one are combined
with the Jina tokens of the other."""
from __future__ import annotations


def is_core_newbie_clip(clip) -> bool:
    tokenizer = getattr(clip, "tokenizer", None)
    return (hasattr(clip, "encode_from_tokens") and hasattr(tokenizer, "gemma")
            and hasattr(tokenizer, "jina"))


def describe(encoders) -> str:
    inner = getattr(encoders, "cond_stage_model", None)
    return type(inner).__name__ if inner is not None else type(encoders).__name__


def gemma_tokens(clip, text: str, system_prompt: str | None) -> list:
    return clip.tokenize((system_prompt or "") + text)["gemma"]


def encode(clip, text: str, system_prompt: str | None, max_tokens: int) -> list:
    """CONDITIONING for one prompt through core's NewBie CLIP with the official routing."""
    tokens = {"gemma": [batch[:max_tokens] for batch in gemma_tokens(clip, text, system_prompt)],
              "jina": clip.tokenize(text)["jina"]}
    out = clip.encode_from_tokens(tokens, return_dict=True)
    cond = out.pop("cond")
    return [[cond, out]]
