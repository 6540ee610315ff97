"""NewBie's Gemma 3 writing prompts: the instruction-tuned chat model the encoder
already holds, completed with the last layer and final norm the encoder leaves out.

The encoder's embedding and first N-1 layers are shared, not copied; the output
projection is the embedding (tied, as in Gemma). Decoding can be held to the XML
layout (`newbie.prompt.grammar`), so the text parses whatever the weights. Greedy, or
seeded sampling by the Gumbel-max trick: the first allowed token in the order of
`logits / temperature + Gumbel noise` is an exact sample from the allowed tokens.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from transformers import DynamicCache, Gemma3ForCausalLM, Gemma3TextConfig, Gemma3TextModel
from transformers.models.gemma3.modeling_gemma3 import Gemma3DecoderLayer, Gemma3RMSNorm

from ..prompt import grammar
from .text_encoders import GEMMA_GLOBAL_EVERY
from .tokenizers import TURN_TOKENS

WRITER_SYSTEM_PROMPT = (
    "You write prompts for NewBie, an anime image model, in its XML format. Describe each "
    "character in its own block, <character_1>, <character_2> and so on, with these "
    "elements in this order, leaving out the ones that do not apply: <n> (the character's "
    "name as a Danbooru tag, or empty), <gender> (1girl, 1boy, ...), <appearance>, "
    "<clothing>, <body_type>, <expression>, <action>, <interaction>, <position>. Then "
    "<general_tags> with <count>, <artists>, <style>, <background>, <environment>, "
    "<perspective>, <atmosphere>, <lighting>, <resolution>, <quality>, <objects>, <other>. "
    "Write tags as Danbooru tags with underscores, separated by ', ', with parentheses "
    "escaped as \\( and \\). End with an optional <caption> in plain English. One element a "
    "line, a blank line between blocks, nothing before or after the XML.")
ProgressFn = Callable[[int, int], None]


def full_config(short: Gemma3TextConfig, n_layers: int) -> Gemma3TextConfig:
    """The encoder's config (one layer short) with all `n_layers` layers."""
    data = short.to_dict()
    data.update(num_hidden_layers=n_layers, layer_types=[
        "full_attention" if (i + 1) % GEMMA_GLOBAL_EVERY == 0 else "sliding_attention"
        for i in range(n_layers)])
    return Gemma3TextConfig(**data)


class PromptWriter(nn.Module):
    def __init__(self, encoder: Gemma3TextModel, tokenizer, n_layers: int,
                 head: dict[str, torch.Tensor]):
        super().__init__()
        config = full_config(encoder.config, n_layers)
        dtype = encoder.embed_tokens.weight.dtype
        with torch.device("meta"):
            lm = Gemma3ForCausalLM(config)
            last = Gemma3DecoderLayer(config, n_layers - 1)
            norm = Gemma3RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        prefix = f"layers.{n_layers - 1}."
        last.load_state_dict({k[len(prefix):]: v.to(dtype) for k, v in head.items()
                              if k.startswith(prefix)}, strict=True, assign=True)
        norm.load_state_dict({"weight": head["norm.weight"].to(dtype)}, strict=True, assign=True)
        lm.model.embed_tokens = encoder.embed_tokens
        lm.model.layers = nn.ModuleList([*encoder.layers, last])
        lm.model.norm = norm
        lm.model.rotary_emb = encoder.rotary_emb
        lm.lm_head.weight = encoder.embed_tokens.weight  # tied, as in Gemma
        self.lm = lm.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.vocabulary = tokenizer.vocabulary()
        turn = tokenizer.token_id(TURN_TOKENS[1])
        self.stop_ids = {config.eos_token_id, *([turn] if turn is not None else [])}

    def chat_ids(self, request: str, system: str = WRITER_SYSTEM_PROMPT) -> list[int]:
        """Gemma's chat layout: the system text opens the user turn (Gemma has no system
        role), then the model's turn begins."""
        start, end = (self.tokenizer.token_id(t) for t in TURN_TOKENS)
        user = (system.strip() + "\n\n" if system.strip() else "") + request.strip()
        bos = self.tokenizer.ids("")[:1]
        return [*bos, start, *self.tokenizer.pieces("user\n" + user), end,
                *self.tokenizer.pieces("\n"), start, *self.tokenizer.pieces("model\n")]

    @torch.no_grad()
    def generate(self, ids: list[int], max_new_tokens: int, *, temperature: float = 0.0,
                 top_k: int = 0, seed: int = 0, constrained: bool = True,
                 progress: ProgressFn | None = None,
                 scores: list[torch.Tensor] | None = None) -> tuple[list[int], str]:
        """(new token ids, their text). Constrained: the text is in the XML layout,
        closed if the budget runs out. `scores` collects each step's logits."""
        device = self.lm.lm_head.weight.device
        noise = torch.Generator().manual_seed(seed)
        cache = DynamicCache(config=self.lm.config)
        state = grammar.start() if constrained else None
        new: list[int] = []
        step_ids = torch.tensor([ids], device=device)
        for step in range(max_new_tokens):
            logits = self.lm(input_ids=step_ids, past_key_values=cache, use_cache=True,
                             logits_to_keep=1).logits[0, -1].float().cpu()
            if scores is not None:
                scores.append(logits)
            token = self._pick(logits, state, temperature, top_k, noise)
            if token is None or token in self.stop_ids:
                break
            new.append(token)
            if state is not None:
                state = grammar.advance(state, self.vocabulary[token])
            if progress:
                progress(step + 1, max_new_tokens)
            step_ids = torch.tensor([[token]], device=device)
        if state is None:
            return new, self.tokenizer.decode(new)
        return new, "".join(self.vocabulary[t] for t in new) + state.finish()

    def _pick(self, logits: torch.Tensor, state, temperature: float, top_k: int,
              noise: torch.Generator) -> int | None:
        scores = logits
        if temperature > 0:
            scores = logits / temperature
            if 0 < top_k < scores.numel():
                floor = torch.topk(scores, top_k).values[-1]
                scores = scores.masked_fill(scores < floor, float("-inf"))
            uniform = torch.rand(scores.shape, generator=noise).clamp_(1e-20, 1.0)
            scores = scores - torch.log(-torch.log(uniform))
        if state is None:
            return int(torch.argmax(scores))
        # Most steps take the first choice: look at the best few before sorting it all.
        seen = 0
        for width in (8, 512, scores.numel()):
            order = torch.topk(scores, min(width, scores.numel())).indices.tolist()
            for token in order[seen:]:
                if self._fits(token, state):
                    return token
            seen = len(order)
        return None  # nothing the layout allows: close it as it stands

    def _fits(self, token: int, state) -> bool:
        if token in self.stop_ids:
            return state.can_end()
        text = self.vocabulary[token] if token < len(self.vocabulary) else None
        return bool(text) and grammar.advance(state, text) is not None
