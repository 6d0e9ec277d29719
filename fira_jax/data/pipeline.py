"""From a ``--data`` spec to packed train/validation arrays and the tokenizer that made them."""

from __future__ import annotations

import pathlib
from typing import NamedTuple

import numpy as np

from fira_jax.data.packing import pack_sequences
from fira_jax.data.sources import load_text_splits
from fira_jax.data.tokenizers import Tokenizer, build_tokenizer, load_tokenizer


class PackedData(NamedTuple):
  """Packed windows: ``train`` (N, S+1) and ``val`` (M, S+1) int32, and the tokenizer."""

  train: np.ndarray
  val: np.ndarray
  tokenizer: Tokenizer


def prepare_data(
  data: str,
  *,
  seq_len: int,
  tokenizer: str = "bpe",
  vocab_size: int = 4096,
  val_fraction: float = 0.05,
  max_docs: int | None = None,
  run_dir: str | pathlib.Path | None = None,
) -> PackedData:
  """Reads, splits, tokenises and packs a source.

  The BPE tokenizer is trained on the training documents only. When ``run_dir`` already
  holds a saved tokenizer (a resumed run) it is reused; otherwise the new one is saved there.

  Args:
    data: source spec, see :func:`fira_jax.data.load_text_splits`.
    seq_len: sequence length S; windows hold S + 1 tokens.
    tokenizer: ``"byte"``, ``"bpe"`` or a ``tokenizer.json`` path.
    vocab_size: BPE vocabulary size.
    val_fraction: held-out fraction of documents.
    max_docs: cap on documents per split.
    run_dir: where the tokenizer is saved / found.
  """
  train_docs, val_docs = load_text_splits(data, val_fraction=val_fraction, max_docs=max_docs)
  tok = load_tokenizer(run_dir) if run_dir is not None else None
  if tok is None:
    tok = build_tokenizer(tokenizer, train_docs, vocab_size)
    if run_dir is not None:
      pathlib.Path(run_dir).mkdir(parents=True, exist_ok=True)
      tok.save(run_dir)
  train = pack_sequences(tok.encode_batch(train_docs), seq_len, tok.eos_id)
  val = pack_sequences(tok.encode_batch(val_docs), seq_len, tok.eos_id)
  return PackedData(train, val, tok)
