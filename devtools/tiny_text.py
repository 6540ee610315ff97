"""Tiny Gemma 3 and Jina CLIP v2 checkpoints in every real layout, with tokenizers
trained at fixture time (SentencePiece) and their tokenizer.json twins."""
from __future__ import annotations

import io
import json
from pathlib import Path

import sentencepiece as spm
import torch
from .tiny_models import random_tensors, write_safetensors

CORPUS = [
    "<character_1> <n>$character_1$</n> <gender>1girl</gender> </character_1>",
    "<appearance>chibi, red_eyes, blue_hair, long_hair, hair_between_eyes</appearance>",
    "<clothing>school_uniform, serafuku, white_sailor_collar, pleated_skirt</clothing>",
    "<general_tags> <count>2girls, multiple_girls</count> <style>anime_style</style>",
    "You are an assistant designed to generate high-quality anime images based on xml",
    "format prompts. <Prompt Start> a girl with a red umbrella under the rain at night",
    "blurry, worst quality, low quality, bad anatomy, extra limbs, poorly drawn face",
] * 20
GEMMA = dict(hidden=32, intermediate=64, layers=3, heads=2, kv=1, head_dim=16)
JINA = dict(hidden=16, intermediate=64, layers=2)  # hidden = the tiny DiT clip_text_dim


def train_sentencepiece(**options) -> bytes:
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(CORPUS), model_writer=model,
                                   hard_vocab_limit=False, normalization_rule_name="identity",
                                   minloglevel=2, **options)
    return model.getvalue()


def gemma_sentencepiece() -> bytes:
    return train_sentencepiece(model_type="bpe", vocab_size=400, pad_id=0, eos_id=1, bos_id=2,
                               unk_id=3, bos_piece="<bos>", eos_piece="<eos>",
                               byte_fallback=True, add_dummy_prefix=False,
                               remove_extra_whitespaces=False,
                               user_defined_symbols=["<start_of_turn>", "<end_of_turn>"])


def jina_sentencepiece() -> bytes:
    # fairseq order, as in ComfyUI's jina_clip_v2 file: <s>=0 <pad>=1 </s>=2 <unk>=3
    return train_sentencepiece(model_type="unigram", vocab_size=200, bos_id=0, pad_id=1,
                               eos_id=2, unk_id=3, remove_extra_whitespaces=False)


def _sp(proto):
    return spm.SentencePieceProcessor(model_proto=proto)


def gemma_tensors(vocab: int, seed=0, config: dict | None = None) -> dict:
    g = config or GEMMA
    hd = g["head_dim"]
    shapes = {"embed_tokens.weight": (vocab, g["hidden"]), "norm.weight": (g["hidden"],)}
    for i in range(g["layers"]):
        p = f"layers.{i}."
        shapes.update({
            p + "self_attn.q_proj.weight": (g["heads"] * hd, g["hidden"]),
            p + "self_attn.k_proj.weight": (g["kv"] * hd, g["hidden"]),
            p + "self_attn.v_proj.weight": (g["kv"] * hd, g["hidden"]),
            p + "self_attn.o_proj.weight": (g["hidden"], g["heads"] * hd),
            p + "self_attn.q_norm.weight": (hd,), p + "self_attn.k_norm.weight": (hd,),
            p + "mlp.gate_proj.weight": (g["intermediate"], g["hidden"]),
            p + "mlp.up_proj.weight": (g["intermediate"], g["hidden"]),
            p + "mlp.down_proj.weight": (g["hidden"], g["intermediate"]),
            **{p + f"{n}.weight": (g["hidden"],) for n in (
                "input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                "post_feedforward_layernorm")}})
    tensors = random_tensors(shapes, seed=seed, std=0.2)
    for k in tensors:  # Gemma norms compute x * (1 + w): keep w near 0
        if "norm" in k:
            tensors[k] = tensors[k] - 1.0
    return tensors


def write_gemma_comfy(path: Path, dtype=torch.bfloat16, seed=0, config: dict | None = None,
                      vocab: int | None = None) -> Path:
    """ComfyUI's single file; `config`/`vocab` for other widths (benchmarks)."""
    proto = gemma_sentencepiece()
    tensors = {"model." + k: v.to(dtype) for k, v in
               gemma_tensors(vocab or _sp(proto).get_piece_size(), seed, config).items()}
    tensors["spiece_model"] = torch.frombuffer(bytearray(proto), dtype=torch.uint8)
    return write_safetensors(path, tensors)


def save_gemma_tokenizer_json(proto: bytes, folder: Path):
    """tokenizer.json for the SentencePiece model, built with transformers' own converter
    pieces, so protobuf is not needed."""
    from transformers import AddedToken, GemmaTokenizer
    from transformers.convert_slow_tokenizer import generate_merges

    sp = _sp(proto)
    vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
    scores = {sp.id_to_piece(i): sp.get_score(i) for i in range(sp.get_piece_size())}
    tok = GemmaTokenizer(vocab=vocab, merges=generate_merges(vocab, scores), bos_token="<bos>",
                         eos_token="<eos>", pad_token="<pad>", unk_token="<unk>",
                         mask_token="<unk>", padding_side="right", add_bos_token=True,
                         add_eos_token=False)
    tok.add_tokens([AddedToken(t, special=False, normalized=False)
                    for t in ("<start_of_turn>", "<end_of_turn>")])
    tok.save_pretrained(str(folder))


def write_gemma_hf(root: Path, dtype=torch.bfloat16, seed=0) -> Path:
    """google/gemma-3-4b-it: two shards + index, multimodal prefixes, vision tower."""
    proto = gemma_sentencepiece()
    text = {"language_model.model." + k: v.to(dtype) for k, v in
            gemma_tensors(_sp(proto).get_piece_size(), seed).items()}
    extra = {"vision_tower.vision_model.embeddings.patch_embedding.weight": torch.zeros(8, 3, 2, 2),
             "multi_modal_projector.mm_input_projection_weight": torch.zeros(8, GEMMA["hidden"])}
    keys = sorted(text)
    shards = {"model-00001-of-00002.safetensors": {k: text[k] for k in keys[: len(keys) // 2]},
              "model-00002-of-00002.safetensors": {**{k: text[k] for k in keys[len(keys) // 2:]},
                                                   **extra}}
    for name, tensors in shards.items():
        write_safetensors(root / name, tensors)
    (root / "model.safetensors.index.json").write_text(json.dumps({
        "metadata": {}, "weight_map": {k: n for n, t in shards.items() for k in t}}))
    (root / "config.json").write_text(json.dumps({"architectures": ["Gemma3ForConditionalGeneration"],
                                                  "model_type": "gemma3"}))
    save_gemma_tokenizer_json(proto, root)
    return root


def jina_tensors(vocab: int, seed=1) -> dict:
    """ComfyUI / original jina names (without the `model.` prefix)."""
    j, h = JINA, JINA["hidden"]
    shapes = {"embeddings.word_embeddings.weight": (vocab, h),
              "embeddings.token_type_embeddings.weight": (1, h),
              "emb_ln.weight": (h,), "emb_ln.bias": (h,)}
    for i in range(j["layers"]):
        p = f"encoder.layers.{i}."
        shapes.update({p + "mixer.Wqkv.weight": (3 * h, h), p + "mixer.Wqkv.bias": (3 * h,),
                       p + "mixer.out_proj.weight": (h, h), p + "mixer.out_proj.bias": (h,),
                       p + "norm1.weight": (h,), p + "norm1.bias": (h,),
                       p + "mlp.fc1.weight": (j["intermediate"], h),
                       p + "mlp.fc1.bias": (j["intermediate"],),
                       p + "mlp.fc2.weight": (h, j["intermediate"]), p + "mlp.fc2.bias": (h,),
                       p + "norm2.weight": (h,), p + "norm2.bias": (h,)})
    return random_tensors(shapes, seed=seed, std=0.2)


def jina_vocab(proto: bytes) -> int:
    return _sp(proto).get_piece_size() + 1  # + <mask>, as XLM-R's 250002


def write_jina_comfy(path: Path, dtype=torch.bfloat16, seed=1) -> Path:
    proto = jina_sentencepiece()
    tensors = {"model." + k: v.to(dtype) for k, v in jina_tensors(jina_vocab(proto), seed).items()}
    tensors["spiece_model"] = torch.frombuffer(bytearray(proto), dtype=torch.uint8)
    return write_safetensors(path, tensors)


def save_jina_tokenizer_json(proto: bytes, folder: Path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    sp = _sp(proto)
    pieces = [(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())]
    tok = Tokenizer(models.Unigram(pieces + [("<mask>", 0.0)], unk_id=3))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>", unk_token="<unk>", mask_token="<mask>")
    fast.save_pretrained(str(folder))


def write_jina_hf(root: Path, dtype=torch.float32, seed=1) -> Path:
    """jinaai/jina-clip-v2: text tower under text_model.transformer.roberta., LoRA
    parametrizations on every Linear/Embedding weight, vision tower beside it."""
    proto = jina_sentencepiece()
    out = {}
    gen = torch.Generator().manual_seed(7)
    for key, value in jina_tensors(jina_vocab(proto), seed).items():
        name = "text_model.transformer.roberta." + key
        lora_target = key.endswith(".weight") and value.dim() == 2
        if lora_target:
            base = name[:-len(".weight")] + ".parametrizations.weight."
            out[base + "original"] = value.to(dtype)
            rows, cols = value.shape
            out[base + "0.lora_A"] = torch.randn(5, 4, cols, generator=gen).to(dtype)
            out[base + "0.lora_B"] = torch.randn(5, rows, 4, generator=gen).to(dtype)
        else:
            out[name] = value.to(dtype)
    out["vision_model.patch_embed.proj.weight"] = torch.zeros(8, 3, 2, 2, dtype=dtype)
    out["logit_scale"] = torch.tensor(2.0, dtype=dtype)
    write_safetensors(root / "model.safetensors", out)
    (root / "config.json").write_text(json.dumps({"architectures": ["JinaCLIPModel"]}))
    save_jina_tokenizer_json(proto, root)
    return root
