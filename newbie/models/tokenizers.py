"""Tokenizers for the two encoders, from an HF folder or an embedded SentencePiece model.

Prompts are tokenized verbatim. Gemma: <bos> + text, no <eos>, pad 0.
Jina (XLM-R ids): <s> text </s>, pad 1.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

import sentencepiece as spm
from ..errors import NewBieError


class TextTokenizer(Protocol):
    pad_id: int

    def ids(self, text: str) -> list[int]: ...


class TokenizerError(NewBieError, ValueError):
    pass


def _sentencepiece(proto: bytes, what: str) -> "spm.SentencePieceProcessor":
    try:
        return spm.SentencePieceProcessor(model_proto=proto)
    except (RuntimeError, OSError, TypeError) as err:  # sentencepiece: "Internal: ..."
        raise TokenizerError(f"the embedded {what} tokenizer is not a SentencePiece model "
                             f"({str(err).strip()})") from None


class HFTokenizer:
    """A tokenizer.json (+ tokenizer_config.json) folder, through transformers."""

    def __init__(self, folder: Path, bos_id: int | None = None):
        from transformers import AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True,
                                                           padding_side="right")
        except Exception as err:  # tokenizers' own errors are plain Exceptions
            raise TokenizerError(f"{folder}: the tokenizer files cannot be read "
                                 f"({type(err).__name__}: {err})") from None
        if self.tokenizer.pad_token_id is None:
            raise TokenizerError(f"{folder}: the tokenizer defines no pad token")
        self.pad_id = self.tokenizer.pad_token_id
        self.bos_id = bos_id

    def ids(self, text: str) -> list[int]:
        ids = self.tokenizer(text, add_special_tokens=True)["input_ids"]
        # Some exported folders drop add_bos_token; the model was trained with BOS first.
        if self.bos_id is not None and ids[:1] != [self.bos_id]:
            ids = [self.bos_id, *ids]
        return ids


class GemmaSentencePiece:
    """Gemma's SentencePiece model, as embedded in ComfyUI's single file."""

    def __init__(self, proto: bytes):
        self.sp = _sentencepiece(proto, "Gemma")
        if (self.sp.bos_id(), self.sp.pad_id()) != (2, 0):
            raise TokenizerError(f"embedded Gemma tokenizer has bos {self.sp.bos_id()} / pad "
                                 f"{self.sp.pad_id()}; expected 2 / 0")
        self.pad_id = 0

    def ids(self, text: str) -> list[int]:
        return [self.sp.bos_id(), *self.sp.encode(text)]


class XLMRobertaSentencePiece:
    """Jina's SentencePiece model. ComfyUI's file is expected in fairseq order
    (<s>=0, <pad>=1, </s>=2, <unk>=3); a raw XLM-R model (<unk>=0, <s>=1, </s>=2)
    is shifted by one as XLMRobertaTokenizer does."""

    def __init__(self, proto: bytes):
        self.sp = _sentencepiece(proto, "Jina")
        fairseq = (self.sp.bos_id(), self.sp.piece_to_id("<pad>"), self.sp.eos_id()) == (0, 1, 2)
        raw = (self.sp.unk_id(), self.sp.bos_id(), self.sp.eos_id()) == (0, 1, 2)
        if not (fairseq or raw):
            raise TokenizerError("embedded Jina tokenizer has neither fairseq nor XLM-R ids "
                                 f"(bos {self.sp.bos_id()}, eos {self.sp.eos_id()})")
        self.offset = 0 if fairseq else 1
        self.pad_id = 1

    def ids(self, text: str) -> list[int]:
        pieces = [3 if i == self.sp.unk_id() and self.offset else i + self.offset
                  for i in self.sp.encode(text)]
        return [0, *pieces, 2]
