"""NewBie Prompt Writer's decoding speed per token against transformers' own `generate`
in the same run, on the same weights: Gemma 3 4B's real widths (hidden 2560, 8 heads of
256, 4 KV heads, MLP 10240, vocabulary 262144), fewer layers (CPU memory and time),
random weights, float32 and bfloat16.

    bash scripts/bench.sh prompt_writer [--layers 4] [--tokens 32]

Rows: ours unconstrained (greedy, our loop on the shared layers), transformers'
greedy `generate`, and ours held to the XML layout over a 262144-entry vocabulary of
synthetic pieces (random weights make the layout check scan far down the order, the
worst case: a trained model's first choice usually fits).
"""
from __future__ import annotations

import argparse
import random
import string
import time

import torch
from transformers import Gemma3ForCausalLM, Gemma3TextModel

from newbie.models.text_encoders import gemma_config
from newbie.models.writer import PromptWriter

WIDTHS = dict(vocab=262144, hidden=2560, heads=8, kv_heads=4, head_dim=256,
              intermediate=10240)


class SyntheticTokenizer:
    """Random ASCII pieces (letters, digits, punctuation, '<', '>', '/', '_', spaces)."""

    def __init__(self, vocab: int):
        rng = random.Random(0)
        alphabet = string.ascii_lowercase + string.digits + "_, <>/\n"
        self.pieces = [None] * 4 + ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6)))
                                    for _ in range(vocab - 4)]

    def vocabulary(self):
        return self.pieces

    def token_id(self, piece):
        return None

    def decode(self, ids):
        return "".join(self.pieces[i] or "" for i in ids)


def build(layers: int, dtype: torch.dtype):
    config = gemma_config(layers=layers, **WIDTHS)
    torch.manual_seed(0)
    reference = Gemma3ForCausalLM(config).to(dtype).eval()
    reference.lm_head.weight = reference.model.embed_tokens.weight
    short = config.to_dict()
    short.update(num_hidden_layers=layers - 1, layer_types=config.layer_types[:-1])
    encoder = Gemma3TextModel.__new__(Gemma3TextModel)
    torch.nn.Module.__init__(encoder)
    encoder.config = type(config)(**short)
    encoder.embed_tokens = reference.model.embed_tokens
    encoder.layers = torch.nn.ModuleList(reference.model.layers[:-1])
    encoder.rotary_emb = reference.model.rotary_emb
    last = f"layers.{layers - 1}."
    head = {k[len("model."):]: v for k, v in reference.state_dict().items()
            if k.startswith("model." + last) or k == "model.norm.weight"}
    writer = PromptWriter(encoder, SyntheticTokenizer(WIDTHS["vocab"]), layers, head)
    return reference, writer


def timed(run, tokens: int) -> float:
    start = time.perf_counter()
    made = run()
    return (time.perf_counter() - start) / max(made, 1) * 1000, made


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=32)
    args = parser.parse_args()
    ids = list(range(10, 74))  # a 64-token request
    print(f"Gemma 3 4B widths, {args.layers} layers, random weights; {len(ids)}-token "
          f"request, {args.tokens} new tokens; ms per token")
    for dtype in (torch.float32, torch.bfloat16):
        rows = compare(*build(args.layers, dtype), ids, args.tokens)
        base = rows["transformers generate"][0]
        for name, (ms, made) in rows.items():
            print(f"  {str(dtype).split('.')[-1]:8s} {name:22s} {ms:8.1f} ms/token "
                  f"({made} tokens)  x{ms / base:.2f}")


@torch.no_grad()
def compare(reference, writer, ids: list[int], tokens: int) -> dict:
    eos = sorted(writer.stop_ids)

    def theirs():
        out = reference.generate(torch.tensor([ids]), max_new_tokens=tokens,
                                 min_new_tokens=tokens, do_sample=False, eos_token_id=eos,
                                 pad_token_id=0)
        return out.shape[1] - len(ids)

    def ours(constrained):
        return lambda: len(writer.generate(ids, tokens, constrained=constrained)[0])

    theirs()  # warm up
    return {"transformers generate": timed(theirs, tokens),
            "ours, free": timed(ours(False), tokens),
            "ours, layout held": timed(ours(True), tokens)}

if __name__ == "__main__":
    main()
