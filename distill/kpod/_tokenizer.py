"""A word-level tokenizer for math word problems: numbers are split into digits.

Splitting numbers into digits lets a small student learn column arithmetic instead of a
table of numbers. Decoding joins adjacent digits, so ``extract_answer`` reads numbers back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_TOKEN = re.compile(r"####|\d|[a-z]+|[^\sa-z\d]")

PAD, BOS, EOS, UNK, SEP = "<pad>", "<bos>", "<eos>", "<unk>", "<sep>"
SPECIALS = (PAD, BOS, EOS, UNK, SEP)


def split_words(text: str) -> list[str]:
  """Lower-cases ``text`` and splits it into words, single digits and punctuation."""
  return _TOKEN.findall(text.lower())


class WordTokenizer:
  """Maps words to ids; ids 0-4 are ``<pad> <bos> <eos> <unk> <sep>``.

  Args:
    vocab: the non-special words, in id order.
  """

  def __init__(self, vocab: Sequence[str]):
    words = list(SPECIALS) + [w for w in vocab if w not in SPECIALS]
    self.itos = words
    self.stoi = {w: i for i, w in enumerate(words)}
    if len(self.stoi) != len(words):
      raise ValueError("vocab holds duplicate words")

  @classmethod
  def fit(cls, texts: Iterable[str], *, extra: Iterable[str] = ()) -> WordTokenizer:
    """Builds the vocabulary of ``texts`` (plus digits, ``####`` and ``extra``), sorted."""
    words = set(extra) | set("0123456789") | {"####", ".", "-"}
    for t in texts:
      words.update(split_words(t))
    return cls(sorted(words))

  @property
  def vocab_size(self) -> int:
    return len(self.itos)

  @property
  def pad_id(self) -> int:
    return self.stoi[PAD]

  @property
  def bos_id(self) -> int:
    return self.stoi[BOS]

  @property
  def eos_id(self) -> int:
    return self.stoi[EOS]

  @property
  def sep_id(self) -> int:
    return self.stoi[SEP]

  def encode(self, text: str) -> list[int]:
    """Token ids of ``text`` (unknown words map to ``<unk>``)."""
    unk = self.stoi[UNK]
    return [self.stoi.get(w, unk) for w in split_words(text)]

  def decode(self, ids: Iterable[int], *, stop_at_eos: bool = True) -> str:
    """Text of ``ids`` without pad/bos/sep; adjacent digits are joined into numbers."""
    out: list[str] = []
    for i in ids:
      i = int(i)
      if stop_at_eos and i == self.eos_id:
        break
      w = self.itos[i] if 0 <= i < len(self.itos) else UNK
      if w in SPECIALS and w != UNK:
        continue
      if out and w.isdigit() and out[-1][-1:].isdigit():
        out[-1] += w
      else:
        out.append(w)
    return " ".join(out)
