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


# Gemma's chat turns; the writer stops at the end of its turn.
TURN_TOKENS = ("<start_of_turn>", "<end_of_turn>")


def piece_text(piece: str) -> str | None:
    """The text a SentencePiece piece stands for: '▁' is a space, `<0xNN>` one byte
    (None past ASCII: a byte of a longer character is not text on its own)."""
    if piece.startswith("<0x") and piece.endswith(">") and len(piece) == 6:
        byte = int(piece[3:5], 16)
        return chr(byte) if byte < 0x80 else None
    return piece.replace("\u2581", " ")


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

    def pieces(self, text: str) -> list[int]:
        """Token ids of `text` alone (no <bos>); turn markers are single tokens."""
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def token_id(self, piece: str) -> int | None:
        found = self.tokenizer.convert_tokens_to_ids(piece)
        return None if found is None or found == self.tokenizer.unk_token_id else found

    def vocabulary(self) -> list[str | None]:
        """Each id's text; None for special tokens and partial bytes."""
        special = set(self.tokenizer.all_special_ids) | {self.token_id(t) for t in TURN_TOKENS}
        tokens = self.tokenizer.convert_ids_to_tokens(list(range(len(self.tokenizer))))
        return [None if i in special or t is None else piece_text(t)
                for i, t in enumerate(tokens)]


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

    def pieces(self, text: str) -> list[int]:
        """Token ids of `text` alone (no <bos>); turn markers are single tokens."""
        return self.sp.encode(text)

    def decode(self, ids: list[int]) -> str:
        return self.sp.decode(ids)

    def token_id(self, piece: str) -> int | None:
        found = self.sp.piece_to_id(piece)
        return None if found == self.sp.unk_id() else found

    def vocabulary(self) -> list[str | None]:
        """Each id's text; None for control, unknown and turn tokens and partial bytes."""
        turns = {self.token_id(t) for t in TURN_TOKENS}
        return [None if self.sp.is_control(i) or self.sp.is_unknown(i) or i in turns
                else piece_text(self.sp.id_to_piece(i)) for i in range(self.sp.get_piece_size())]


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
