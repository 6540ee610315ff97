"""Gemma 3 + Jina CLIP v2 text encoders: every layout, tokenizers, conditioning rules."""
import math

import pytest
import torch
import torch.nn.functional as F
from devtools.tiny_text import (GEMMA, JINA, gemma_sentencepiece, gemma_tensors, jina_sentencepiece,
                       jina_tensors, jina_vocab, save_gemma_tokenizer_json,
                       save_jina_tokenizer_json, write_gemma_comfy, write_gemma_hf,
                       write_jina_comfy, write_jina_hf)
from transformers import Gemma3TextModel

from newbie.loading import CheckpointError
from newbie.loading.text_encoders import load_text_encoders
from newbie.models.text_encoders import gemma_config
from newbie.prompt import DEFAULT_SYSTEM_PROMPT
from newbie.models.tokenizers import GemmaSentencePiece, HFTokenizer, XLMRobertaSentencePiece

PROMPTS = ["<character_1> <n>$character_1$</n> <gender>1girl</gender> </character_1>",
           "a girl with a red umbrella"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("te")
    return {
        "gemma_comfy": write_gemma_comfy(root / "gemma_3_4b_it_bf16.safetensors",
                                         dtype=torch.float32),
        "jina_comfy": write_jina_comfy(root / "jina_clip_v2_bf16.safetensors",
                                       dtype=torch.float32),
        "gemma_hf": write_gemma_hf(root / "gemma-3-4b-it", dtype=torch.float32),
        "jina_hf": write_jina_hf(root / "jina-clip-v2"),
    }


@pytest.fixture(scope="module")
def encoders(files):
    return load_text_encoders(files["gemma_comfy"], files["jina_comfy"], dtype=torch.float32)


def test_tokenizer_json_twins_tokenize_like_sentencepiece(tmp_path):
    g_proto, j_proto = gemma_sentencepiece(), jina_sentencepiece()
    save_gemma_tokenizer_json(g_proto, tmp_path / "g")
    save_jina_tokenizer_json(j_proto, tmp_path / "j")
    # (The fixture twins agree on single-spaced text; that is all the tests feed them.)
    for text in PROMPTS + [DEFAULT_SYSTEM_PROMPT + PROMPTS[0], "two spaces (x) &amp;"]:
        g = GemmaSentencePiece(g_proto).ids(text)
        assert g[0] == 2 and g[-1] != 1 and g == HFTokenizer(tmp_path / "g").ids(text)
        j = XLMRobertaSentencePiece(j_proto).ids(text)
        assert j[0] == 0 and j[-1] == 2 and j == HFTokenizer(tmp_path / "j").ids(text)


def test_gemma_output_is_the_full_models_penultimate_hidden_state(encoders):
    vocab = encoders.gemma.embed_tokens.weight.shape[0]
    g = GEMMA
    full = Gemma3TextModel(gemma_config(vocab, g["hidden"], g["layers"], g["heads"], g["kv"],
                                        g["head_dim"], g["intermediate"])).eval()
    full.load_state_dict(gemma_tensors(vocab), strict=True)
    ids = torch.tensor([GemmaSentencePiece(gemma_sentencepiece()).ids(PROMPTS[0])])
    with torch.no_grad():
        expected = full(input_ids=ids, output_hidden_states=True).hidden_states[-2]
    cap, mask, _ = encoders.encode([PROMPTS[0]])
    assert mask.sum() == ids.shape[1]
    torch.testing.assert_close(cap[:, :ids.shape[1]], expected, rtol=1e-5, atol=1e-5)
    assert len(encoders.gemma.layers) == g["layers"] - 1  # last layer never built


def jina_reference(tensors: dict, ids: list[int]) -> torch.Tensor:
    """The Jina CLIP v2 text forward written out by hand (post-LN, rotate-half RoPE
    base 20000, exact GELU, mean over all real tokens), from original-layout weights."""
    h = JINA["hidden"]
    heads, hd = max(1, h // 64), min(h, 64)
    x = tensors["embeddings.word_embeddings.weight"][ids] + \
        tensors["embeddings.token_type_embeddings.weight"][0]
    x = F.layer_norm(x, (h,), tensors["emb_ln.weight"], tensors["emb_ln.bias"], 1e-5)
    n = len(ids)
    inv = 20000.0 ** (-torch.arange(0, hd, 2, dtype=torch.float32) / hd)
    ang = torch.arange(n, dtype=torch.float32)[:, None] * inv
    cos, sin = torch.cat([ang, ang], -1).cos(), torch.cat([ang, ang], -1).sin()

    def rope(t):
        a, b = t.chunk(2, dim=-1)
        return t * cos + torch.cat([-b, a], -1) * sin

    for i in range(JINA["layers"]):
        p = f"encoder.layers.{i}."
        qkv = x @ tensors[p + "mixer.Wqkv.weight"].T + tensors[p + "mixer.Wqkv.bias"]
        q, k, v = qkv.view(n, 3, heads, hd).unbind(1)
        q, k = rope(q.transpose(0, 1)), rope(k.transpose(0, 1))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), -1) @ v.transpose(0, 1)
        att = att.transpose(0, 1).reshape(n, h) @ tensors[p + "mixer.out_proj.weight"].T \
            + tensors[p + "mixer.out_proj.bias"]
        x = F.layer_norm(att + x, (h,), tensors[p + "norm1.weight"], tensors[p + "norm1.bias"], 1e-5)
        mlp = F.gelu(x @ tensors[p + "mlp.fc1.weight"].T + tensors[p + "mlp.fc1.bias"])
        mlp = mlp @ tensors[p + "mlp.fc2.weight"].T + tensors[p + "mlp.fc2.bias"]
        x = F.layer_norm(mlp + x, (h,), tensors[p + "norm2.weight"], tensors[p + "norm2.bias"], 1e-5)
    return x.mean(0)


def test_jina_pooled_matches_a_hand_written_reference(encoders):
    proto = jina_sentencepiece()
    tensors = jina_tensors(jina_vocab(proto))
    _, _, pooled = encoders.encode(PROMPTS)
    for i, text in enumerate(PROMPTS):
        expected = jina_reference(tensors, XLMRobertaSentencePiece(proto).ids(text))
        torch.testing.assert_close(pooled[i], expected, rtol=1e-4, atol=1e-4)


def test_hf_folders_give_the_same_conditioning_as_comfy_files(files, encoders):
    hf = load_text_encoders(files["gemma_hf"], files["jina_hf"], dtype=torch.float32)
    assert not any("vision" in name for name, _ in hf.named_parameters())
    for a, b in zip(hf.encode(PROMPTS, DEFAULT_SYSTEM_PROMPT),
                    encoders.encode(PROMPTS, DEFAULT_SYSTEM_PROMPT), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_system_prompt_reaches_gemma_only(encoders):
    cap_plain, mask_plain, pooled_plain = encoders.encode(PROMPTS[:1])
    cap_sys, mask_sys, pooled_sys = encoders.encode(PROMPTS[:1], system_prompt=DEFAULT_SYSTEM_PROMPT)
    torch.testing.assert_close(pooled_sys, pooled_plain, rtol=0, atol=0)
    assert mask_sys.sum() > mask_plain.sum()
    (gemma,), (jina,) = encoders.tokenize(PROMPTS[:1], DEFAULT_SYSTEM_PROMPT)
    expected = GemmaSentencePiece(gemma_sentencepiece()).ids(DEFAULT_SYSTEM_PROMPT + PROMPTS[0])
    assert gemma == expected
    assert jina == XLMRobertaSentencePiece(jina_sentencepiece()).ids(PROMPTS[0])


def test_batch_is_right_padded_and_matches_single_prompts(encoders):
    cap, mask, pooled = encoders.encode(PROMPTS)
    assert cap.shape[1] % 8 == 0 and mask.dtype == torch.bool
    assert mask[1].tolist() == sorted(mask[1].tolist(), reverse=True)  # True then False
    assert pooled.shape == (2, JINA["hidden"]) and cap.shape[-1] == GEMMA["hidden"]
    for i, text in enumerate(PROMPTS):
        c, m, p = encoders.encode([text])
        n = int(m.sum())
        assert int(mask[i].sum()) == n
        torch.testing.assert_close(cap[i, :n], c[0, :n], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(pooled[i], p[0], rtol=1e-5, atol=1e-5)


def test_gemma_is_truncated_at_the_limit(files):
    enc = load_text_encoders(files["gemma_comfy"], files["jina_comfy"], dtype=torch.float32,
                             gemma_max_tokens=10)
    gemma, _ = enc.tokenize([PROMPTS[0] * 3, "hi"])
    assert [len(row) for row in gemma] == [10, len(enc.gemma_ids("hi"))]
    cap, mask, _ = enc.encode([PROMPTS[0] * 3])
    assert int(mask.sum()) == 10 and cap.shape[1] == 16  # padded to a multiple of 8


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_every_dtype(files, dtype):
    enc = load_text_encoders(files["gemma_hf"], files["jina_comfy"], dtype=dtype)
    assert {p.dtype for p in enc.parameters()} == {dtype}
    cap, _, pooled = enc.encode(PROMPTS)
    assert cap.dtype == dtype and torch.isfinite(cap).all() and torch.isfinite(pooled).all()


def test_swapped_files_say_what_they_are(files):
    with pytest.raises(CheckpointError, match="not a Jina CLIP v2.*a Gemma 3 text encoder"):
        load_text_encoders(files["gemma_comfy"], files["gemma_comfy"])
    with pytest.raises(CheckpointError, match="not a Gemma 3.*a Jina CLIP v2"):
        load_text_encoders(files["jina_comfy"], files["jina_comfy"])


def test_missing_tokenizer_is_a_clear_error(tmp_path, files):
    from safetensors.torch import load_file, save_file
    tensors = load_file(str(files["gemma_comfy"]))
    del tensors["spiece_model"]
    save_file(tensors, str(tmp_path / "gemma_no_tok.safetensors"))
    with pytest.raises(CheckpointError, match="no Gemma tokenizer"):
        load_text_encoders(tmp_path / "gemma_no_tok.safetensors", files["jina_comfy"])


def test_folder_with_only_a_sentencepiece_model(tmp_path, files, encoders):
    folder = write_gemma_hf(tmp_path / "gemma", dtype=torch.float32)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (folder / name).unlink()
    (folder / "tokenizer.model").write_bytes(gemma_sentencepiece())
    enc = load_text_encoders(folder, files["jina_comfy"], dtype=torch.float32)
    for a, b in zip(enc.encode(PROMPTS), encoders.encode(PROMPTS), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
