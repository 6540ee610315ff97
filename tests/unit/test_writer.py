"""NewBie Prompt Writer's library side: Gemma completed from the encoder + the last layer
and norm of the same file, decoding against transformers' own Gemma3ForCausalLM, and
the XML layout lock on random weights."""
import random
from pathlib import Path

import pytest
import torch
from devtools.tiny_text import (GEMMA, _sp, gemma_sentencepiece, gemma_tensors, write_gemma_comfy,
                                write_gemma_hf, write_jina_comfy)
from transformers import Gemma3ForCausalLM

from newbie.loading import load_gemma_head, load_text_encoders
from newbie.models.text_encoders import gemma_config
from newbie.models.writer import PromptWriter
from newbie.prompt import build_xml, parse_xml
from newbie.prompt.grammar import advance, start

OFFICIAL = (Path(__file__).parents[1] / "data" / "official_example.xml").read_text().strip()
REQUEST = "1girl, blue hair, holding an umbrella in the rain"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("writer")
    return {"gemma": write_gemma_comfy(d / "g.safetensors", dtype=torch.float32),
            "gemma_hf": write_gemma_hf(d / "gemma_hf", dtype=torch.float32),
            "jina": write_jina_comfy(d / "j.safetensors")}


@pytest.fixture(scope="module")
def writer(files):
    encoders = load_text_encoders(files["gemma"], files["jina"], dtype=torch.float32)
    n_layers, head = load_gemma_head(files["gemma"], torch.float32)
    return PromptWriter(encoders.gemma, encoders.gemma_tokenizer, n_layers, head), encoders


def reference_lm() -> Gemma3ForCausalLM:
    """transformers' own causal Gemma 3 on the same tiny weights, built whole."""
    tensors = gemma_tensors(_sp(gemma_sentencepiece()).get_piece_size(), seed=0)
    config = gemma_config(vocab=tensors["embed_tokens.weight"].shape[0], hidden=GEMMA["hidden"],
                          layers=GEMMA["layers"], heads=GEMMA["heads"], kv_heads=GEMMA["kv"],
                          head_dim=GEMMA["head_dim"], intermediate=GEMMA["intermediate"])
    lm = Gemma3ForCausalLM(config).eval()
    state = {"model." + k: v.float() for k, v in tensors.items()}
    state["lm_head.weight"] = state["model.embed_tokens.weight"]
    lm.load_state_dict(state, strict=True)
    return lm


def test_the_writer_shares_the_encoders_layers(writer):
    w, encoders = writer
    assert w.lm.model.layers[0] is encoders.gemma.layers[0]
    assert w.lm.model.embed_tokens is encoders.gemma.embed_tokens
    assert w.lm.lm_head.weight.data_ptr() == encoders.gemma.embed_tokens.weight.data_ptr()
    assert len(w.lm.model.layers) == GEMMA["layers"] == len(encoders.gemma.layers) + 1


def test_greedy_decoding_equals_transformers_generate(writer):
    w, _ = writer
    ids = w.chat_ids(REQUEST)
    scores: list[torch.Tensor] = []
    new, _ = w.generate(ids, 16, constrained=False, scores=scores)
    out = reference_lm().generate(torch.tensor([ids]), max_new_tokens=16, do_sample=False,
                                  eos_token_id=sorted(w.stop_ids), pad_token_id=0,
                                  output_scores=True, return_dict_in_generate=True)
    assert new == out.sequences[0, len(ids):].tolist()
    # The tiny model's greedy choice repeats one token; the logits of every step pin the
    # cached decoding too.
    assert len(scores) == len(out.scores) == 16
    for ours, theirs in zip(scores, out.scores, strict=True):
        torch.testing.assert_close(ours, theirs[0], rtol=1e-4, atol=1e-4)


def test_the_head_reads_from_every_gemma_layout(files):
    n_comfy, comfy = load_gemma_head(files["gemma"], torch.float32)
    n_hf, hf = load_gemma_head(files["gemma_hf"], torch.float32)
    assert n_comfy == n_hf == GEMMA["layers"] and comfy.keys() == hf.keys()
    assert "norm.weight" in comfy and f"layers.{n_comfy - 1}.mlp.up_proj.weight" in comfy
    for key in comfy:
        assert torch.equal(comfy[key], hf[key])


def test_the_locked_layout_parses_for_50_seeds_on_random_weights(writer):
    w, _ = writer
    ids = w.chat_ids(REQUEST)
    texts = set()
    for seed in range(50):
        _, text = w.generate(ids, 40, temperature=1.0, seed=seed)
        parse_xml(text, strict=True)
        texts.add(text)
    assert len(texts) > 40  # seeds give different prompts
    greedy = [w.generate(ids, 40)[1] for _ in range(2)]
    assert greedy[0] == greedy[1] and parse_xml(greedy[0], strict=True) is not None


def test_the_layout_takes_what_the_builder_writes_and_closes_any_prefix():
    assert advance(start(), OFFICIAL).can_end()
    assert advance(start(), build_xml(parse_xml(OFFICIAL))).can_end()
    assert advance(start(), "<character_1>\n<gender>") is None  # <n> comes first
    assert advance(start(), "<character_2>") is None  # numbered from 1
    rng = random.Random(0)
    for _ in range(200):
        cut = OFFICIAL[:rng.randrange(len(OFFICIAL))]
        state = advance(start(), cut)
        closed = cut + state.finish()
        assert advance(start(), closed).can_end()
        parse_xml(closed, strict=True)
