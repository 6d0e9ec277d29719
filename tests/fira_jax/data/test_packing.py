"""Packing windows against a direct NumPy construction."""

import numpy as np
import pytest

from fira_jax.data import pack_sequences


def test_pack_matches_stream_windows():
  docs = [np.arange(1, 6), np.arange(10, 13), np.arange(20, 30)]
  out = pack_sequences(docs, seq_len=4, eos_id=0)
  stream = np.array([1, 2, 3, 4, 5, 0, 10, 11, 12, 0, *range(20, 30), 0])
  n = (len(stream) - 1) // 4
  assert out.shape == (n, 5) and out.dtype == np.int32
  for i in range(n):
    np.testing.assert_array_equal(out[i], stream[4 * i : 4 * i + 5])
  # Every target position of the covered stream appears exactly once.
  targets = out[:, 1:].reshape(-1)
  np.testing.assert_array_equal(targets, stream[1 : 1 + 4 * n])


def test_pack_errors():
  with pytest.raises(ValueError, match="seq_len must be a positive int"):
    pack_sequences([np.arange(10)], 0, eos_id=0)
  with pytest.raises(ValueError, match="cannot fill one sequence of length 64"):
    pack_sequences([np.arange(10)], 64, eos_id=0)
