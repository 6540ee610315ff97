"""Loads Gemma 3 and the Jina CLIP v2 text tower from the files people have.

Gemma: ComfyUI's `gemma_3_4b_it_bf16.safetensors` (`model.` keys + `spiece_model`),
the HF `google/gemma-3-4b-it` folder (`language_model.model.`, vision tower
ignored), newer transformers saves (`model.language_model.`, `language_model.`),
or the NewBie repo's `text_encoder/` folder.
Jina: ComfyUI's `jina_clip_v2_bf16.safetensors` (`model.` keys + `spiece_model`)
or the HF `jinaai/jina-clip-v2` layout (`text_model.transformer.roberta.`, LoRA
parametrizations; the base weights are used), also as the NewBie `clip_model/`.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import torch

from ..models.text_encoders import (GEMMA_MAX_TOKENS, NewBieTextEncoders, build_jina,
                                    build_penultimate_gemma, gemma_config, jina_config)
from ..models.tokenizers import (GemmaSentencePiece, HFTokenizer, TokenizerError,
                                 XLMRobertaSentencePiece)
from ..models.state_dict import count_numbered
from .dtype import resolve_dtype
from .errors import CheckpointError
from .files import Checkpoint, refuse_special_files, regular_file
from .layouts import describe
from .quantized import is_quant_extra, read_dequantized

log = logging.getLogger(__name__)
GEMMA_PROBE = "layers.0.self_attn.q_norm.weight"
# (prefix, a key that must follow it), most specific first.
GEMMA_LAYOUTS = [(p, GEMMA_PROBE) for p in ("model.language_model.", "language_model.model.",
                                            "language_model.", "model.", "")]
_WQKV = "encoder.layers.0.mixer.Wqkv."
JINA_LAYOUTS = [("model.", _WQKV + "weight"),
                ("text_model.transformer.roberta.", _WQKV + "parametrizations.weight.original"),
                ("text_model.transformer.roberta.", _WQKV + "weight"),
                ("roberta.", _WQKV + "weight"), ("", _WQKV + "weight"),
                ("", "layers.0.self_attn.q_proj.weight")]  # already transformers names
_JINA_RULES = [
    (r"\.parametrizations\.weight\.original$", ".weight"),
    (r"^emb_ln\.", "embeddings.LayerNorm."),
    (r"^encoder\.layers\.", "layers."),
    (r"\.mixer\.out_proj\.", ".self_attn.o_proj."),
    (r"\.norm1\.", ".post_attention_layernorm."),
    (r"\.norm2\.", ".post_mlp_layernorm."),
]


def _find_prefix(ckpt: Checkpoint, layouts) -> str | None:
    return next((prefix for prefix, probe in layouts if prefix + probe in ckpt), None)


SENTENCEPIECE_FILES = ("tokenizer.model", "sentencepiece.bpe.model")


def _tokenizer_file(path: Path, subfolders: tuple[str, ...]) -> Path | None:
    """tokenizer.json (preferred) or a SentencePiece model in or beside the weights."""
    base = path if path.is_dir() else path.parent
    folders = [base / s for s in subfolders] + [base, base.parent / "tokenizer"]
    for name in ("tokenizer.json", *SENTENCEPIECE_FILES):
        for folder in folders:
            if (folder / name).is_file():
                return folder / name
    return None


def _tokenizer(ckpt: Checkpoint, embedded_cls, subfolders, what: str, bos_id=None):
    try:
        if "spiece_model" in ckpt:
            return embedded_cls(ckpt.raw_bytes("spiece_model"))
        found = _tokenizer_file(ckpt.path, subfolders)
        if found is None:
            raise CheckpointError(ckpt.path, f"no {what} tokenizer: expected a `spiece_model` "
                                             "tensor in the file, or tokenizer.json / "
                                             "tokenizer.model beside it.")
        if found.name in SENTENCEPIECE_FILES:
            return embedded_cls(regular_file(found).read_bytes())
        refuse_special_files(found.parent)  # the tokenizer library reads the whole folder
        return HFTokenizer(found.parent, bos_id=bos_id)
    except TokenizerError as err:
        raise CheckpointError(ckpt.path, f"{what} tokenizer: {err}") from None


def load_gemma_tokenizer(path):
    """Gemma's tokenizer alone, from the files load_gemma reads (the header and the
    embedded SentencePiece model, or the tokenizer files beside it; no weights)."""
    ckpt = Checkpoint.open(path, subfolder="text_encoder")
    return _tokenizer(ckpt, GemmaSentencePiece, ("tokenizer", "text_encoder"), "Gemma", bos_id=2)


def _gemma_checkpoint(path) -> tuple[Checkpoint, str, list[str], int]:
    """(checkpoint, key prefix, keys without it, layer count) of a Gemma 3 file or folder."""
    ckpt = Checkpoint.open(path, subfolder="text_encoder")
    prefix = _find_prefix(ckpt, GEMMA_LAYOUTS)
    if prefix is None:
        raise CheckpointError(ckpt.path, "this is not a Gemma 3 text encoder.",
                              layout=describe(ckpt.keys()), missing=["model." + GEMMA_PROBE])
    keys = [k[len(prefix):] for k in ckpt.keys() if k.startswith(prefix)]
    return ckpt, prefix, keys, count_numbered(keys, "layers.")


def load_gemma(path, dtype: torch.dtype):
    ckpt, prefix, keys, n_layers = _gemma_checkpoint(path)
    try:
        vocab, hidden = ckpt.shapes[prefix + "embed_tokens.weight"]
        head_dim = ckpt.shapes[prefix + GEMMA_PROBE][0]
        config = gemma_config(
            vocab=vocab, hidden=hidden, layers=n_layers, head_dim=head_dim,
            heads=ckpt.shapes[prefix + "layers.0.self_attn.q_proj.weight"][0] // head_dim,
            kv_heads=ckpt.shapes[prefix + "layers.0.self_attn.k_proj.weight"][0] // head_dim,
            intermediate=ckpt.shapes[prefix + "layers.0.mlp.gate_proj.weight"][0])
    except KeyError as err:
        raise CheckpointError(ckpt.path, "Gemma 3 tensors missing.", layout=describe(ckpt.keys()),
                              missing=[prefix + err.args[0]]) from None
    last = f"layers.{n_layers - 1}."
    tensors = {k: read_dequantized(ckpt, prefix + k, dtype) for k in keys
               if not k.startswith(last) and k != "norm.weight" and not is_quant_extra(k)
               and k.startswith(("embed_tokens.", "layers."))}
    try:
        model = build_penultimate_gemma(config, tensors, dtype)
    except RuntimeError as err:
        raise CheckpointError(ckpt.path, f"Gemma 3 weights do not fit ({_short(err)}).",
                              layout=describe(ckpt.keys())) from None
    return model, _tokenizer(ckpt, GemmaSentencePiece, ("tokenizer", "text_encoder"), "Gemma",
                             bos_id=2)


def load_gemma_head(path, dtype: torch.dtype) -> tuple[int, dict[str, torch.Tensor]]:
    """(layer count, tensors) of what the encoder leaves out: Gemma's last layer
    (`layers.N.*`) and its final `norm.weight`, read from the same file."""
    ckpt, prefix, keys, n_layers = _gemma_checkpoint(path)
    wanted = [k for k in keys if (k.startswith(f"layers.{n_layers - 1}.") or k == "norm.weight")
              and not is_quant_extra(k)]
    if "norm.weight" not in wanted:
        raise CheckpointError(ckpt.path, "Gemma's final norm is not in this file, so it can "
                              "encode but not write.", missing=[prefix + "norm.weight"])
    return n_layers, {k: read_dequantized(ckpt, prefix + k, dtype) for k in wanted}


def jina_tensors(ckpt: Checkpoint, prefix: str, dtype) -> dict[str, torch.Tensor]:
    out = {}
    for key in ckpt.keys():
        if not key.startswith(prefix) or ".lora_" in key or key == "spiece_model" \
                or key.endswith("position_ids") or is_quant_extra(key):  # an index buffer
            continue
        name = key[len(prefix):]
        if name.startswith(("pooler.", "vision_model.")) or name == "logit_scale":
            continue
        for pattern, repl in _JINA_RULES:
            name = re.sub(pattern, repl, name)
        if ".mixer.Wqkv." in name:  # fused rows [Q | K | V]
            q, k, v = read_dequantized(ckpt, key, dtype).chunk(3, dim=0)
            for part, t in zip("qkv", (q, k, v), strict=True):
                out[name.replace(".mixer.Wqkv.", f".self_attn.{part}_proj.")] = t
        else:
            out[name] = read_dequantized(ckpt, key, dtype)
    return out


def load_jina(path, dtype: torch.dtype):
    ckpt = Checkpoint.open(path, subfolder="clip_model")
    prefix = _find_prefix(ckpt, JINA_LAYOUTS)
    if prefix is None or GEMMA_PROBE in ckpt:
        raise CheckpointError(ckpt.path, "this is not a Jina CLIP v2 text encoder.",
                              layout=describe(ckpt.keys()),
                              missing=["model.encoder.layers.0.mixer.Wqkv.weight"])
    tensors = jina_tensors(ckpt, prefix, dtype)
    try:
        vocab, hidden = tensors["embeddings.word_embeddings.weight"].shape
        config = jina_config(vocab=vocab, hidden=hidden, layers=count_numbered(tensors, "layers."),
                             intermediate=tensors["layers.0.mlp.fc1.weight"].shape[0])
        model = build_jina(config, tensors, dtype)
    except KeyError as err:
        raise CheckpointError(ckpt.path, "Jina tensors missing.", layout=describe(ckpt.keys()),
                              missing=[str(err.args[0])]) from None
    except RuntimeError as err:
        raise CheckpointError(ckpt.path, f"Jina weights do not fit ({_short(err)}).",
                              layout=describe(ckpt.keys())) from None
    return model, _tokenizer(ckpt, XLMRobertaSentencePiece, ("clip_model", "clip_tokenizer"),
                             "Jina")


def _short(err: Exception) -> str:
    return " ".join(str(err).split())[:400]


def load_text_encoders(gemma_path, jina_path, dtype="auto", device="cpu",
                       gemma_max_tokens: int = GEMMA_MAX_TOKENS) -> NewBieTextEncoders:
    """Both encoders in `dtype` (auto: bf16 where supported)."""
    target = resolve_dtype(dtype, device, "text_encoder")
    gemma, gemma_tok = load_gemma(gemma_path, target)
    jina, jina_tok = load_jina(jina_path, target)
    log.info("NewBie text encoders: Gemma %d layers used, Jina %d layers, %s",
             gemma.config.num_hidden_layers, jina.config.num_hidden_layers, target)
    encoders = NewBieTextEncoders(gemma, gemma_tok, jina, jina_tok,
                                  gemma_max_tokens=gemma_max_tokens)
    return encoders.to(device)
