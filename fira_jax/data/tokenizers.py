"""Tokenizers: byte-level (nothing to train) and byte-level BPE trained with HF ``tokenizers``.

Both expose ``encode(text) -> list[int]``, ``encode_batch(texts)``, ``decode(ids) -> str``,
``vocab_size``, ``eos_id`` and ``save(directory)``; :func:`load_tokenizer` reads back what
``save`` wrote, so a run folder carries the exact tokenizer it was trained with.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterable, Sequence

import numpy as np

EOS = "<|endoftext|>"
_BYTE_META = "byte_tokenizer.json"
_BPE_FILE = "tokenizer.json"


class ByteTokenizer:
  """UTF-8 bytes as ids 0…255, plus an end-of-document id 256 (vocabulary 257)."""

  vocab_size = 257
  eos_id = 256

  def encode(self, text: str) -> list[int]:
    return list(text.encode("utf-8"))

  def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
    return [np.frombuffer(t.encode("utf-8"), np.uint8).astype(np.int32) for t in texts]

  def decode(self, ids: Iterable[int]) -> str:
    return bytes(int(i) for i in ids if 0 <= int(i) < 256).decode("utf-8", errors="replace")

  def save(self, directory: str | pathlib.Path) -> None:
    path = pathlib.Path(directory) / _BYTE_META
    path.write_text(json.dumps({"type": "byte", "vocab_size": self.vocab_size}))


class BPETokenizer:
  """A Hugging Face ``tokenizers.Tokenizer`` (byte-level BPE, lossless round trip)."""

  def __init__(self, tokenizer):
    self._tok = tokenizer
    eos = tokenizer.token_to_id(EOS)
    if eos is None:
      raise ValueError(f"tokenizer has no {EOS!r} token; add it as a special token")
    self.eos_id = int(eos)
    self.vocab_size = int(tokenizer.get_vocab_size())

  @classmethod
  def train(cls, texts: Iterable[str], vocab_size: int) -> BPETokenizer:
    """Trains a byte-level BPE of ``vocab_size`` ids (including the EOS token) on ``texts``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if not isinstance(vocab_size, int) or vocab_size < 300:
      raise ValueError(f"vocab_size for BPE must be an int >= 300, got {vocab_size!r}")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
      vocab_size=vocab_size,
      special_tokens=[EOS],
      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
      show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return cls(tok)

  @classmethod
  def from_file(cls, path: str | pathlib.Path) -> BPETokenizer:
    from tokenizers import Tokenizer

    path = pathlib.Path(path)
    if not path.is_file():
      raise FileNotFoundError(f"tokenizer file not found: {path}")
    return cls(Tokenizer.from_file(str(path)))

  def encode(self, text: str) -> list[int]:
    return list(self._tok.encode(text).ids)

  def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
    return [np.asarray(e.ids, np.int32) for e in self._tok.encode_batch(list(texts))]

  def decode(self, ids: Iterable[int]) -> str:
    return self._tok.decode([int(i) for i in ids])

  def save(self, directory: str | pathlib.Path) -> None:
    self._tok.save(str(pathlib.Path(directory) / _BPE_FILE))


Tokenizer = ByteTokenizer | BPETokenizer


def load_tokenizer(directory: str | pathlib.Path) -> Tokenizer | None:
  """Loads the tokenizer a run saved in ``directory``; None when there is none."""
  directory = pathlib.Path(directory)
  if (directory / _BPE_FILE).is_file():
    return BPETokenizer.from_file(directory / _BPE_FILE)
  if (directory / _BYTE_META).is_file():
    return ByteTokenizer()
  return None


def build_tokenizer(spec: str, texts: Iterable[str], vocab_size: int = 4096) -> Tokenizer:
  """Makes the tokenizer named by ``spec``.

  Args:
    spec: ``"byte"``, ``"bpe"`` (trained on ``texts``) or the path of a ``tokenizer.json``.
    texts: the training corpus (only read for ``"bpe"``).
    vocab_size: BPE vocabulary size.

  Raises:
    ValueError: for an unknown spec; FileNotFoundError for a missing tokenizer file.
  """
  if spec == "byte":
    return ByteTokenizer()
  if spec == "bpe":
    return BPETokenizer.train(texts, vocab_size)
  if spec.endswith(".json"):
    return BPETokenizer.from_file(spec)
  raise ValueError(f"--tokenizer must be 'byte', 'bpe' or a path to tokenizer.json, got {spec!r}")
