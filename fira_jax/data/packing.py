"""Packing tokenised documents into fixed-length training windows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pack_sequences(docs: Sequence[np.ndarray], seq_len: int, eos_id: int) -> np.ndarray:
  """Concatenates documents (each followed by ``eos_id``) and cuts windows of ``seq_len + 1``.

  Window i covers stream positions ``[i·seq_len, (i+1)·seq_len]``, so consecutive windows
  share one token and every position of the stream is a target exactly once: inputs are
  ``w[:-1]``, targets ``w[1:]``. The incomplete tail is dropped.

  Returns:
    int32 array of shape (N, seq_len + 1) with ``N = (len(stream) - 1) // seq_len``.

  Raises:
    ValueError: when ``seq_len`` is not positive or the documents do not fill one window.
  """
  if not isinstance(seq_len, int) or seq_len <= 0:
    raise ValueError(f"seq_len must be a positive int, got {seq_len!r}")
  eos = np.asarray([eos_id], np.int32)
  parts = [p for d in docs for p in (np.asarray(d, np.int32), eos)]
  stream = np.concatenate(parts) if parts else np.zeros((0,), np.int32)
  n = (len(stream) - 1) // seq_len
  if n <= 0:
    raise ValueError(f"{len(stream)} tokens cannot fill one sequence of length {seq_len} + 1")
  idx = np.arange(n)[:, None] * seq_len + np.arange(seq_len + 1)[None, :]
  return stream[idx]
