"""Text data for LM pre-training: sources, tokenizers, packing and a checkpointable iterator."""

from fira_jax.data.iterator import BatchIterator
from fira_jax.data.packing import pack_sequences
from fira_jax.data.pipeline import PackedData, prepare_data
from fira_jax.data.sources import load_text_splits, tinyshakespeare_path
from fira_jax.data.tokenizers import (
  EOS,
  BPETokenizer,
  ByteTokenizer,
  build_tokenizer,
  load_tokenizer,
)

__all__ = [
  "EOS",
  "BPETokenizer",
  "BatchIterator",
  "ByteTokenizer",
  "PackedData",
  "build_tokenizer",
  "load_text_splits",
  "load_tokenizer",
  "pack_sequences",
  "prepare_data",
  "tinyshakespeare_path",
]
