"""BatchIterator: epochs cover the data once, determinism, exact restore of the position."""

import numpy as np
import pytest

from fira_jax.data import BatchIterator

DATA = np.arange(23 * 3).reshape(23, 3)


def test_epoch_covers_each_row_once_and_reshuffles():
  it = BatchIterator(DATA, 5, seed=1)
  epoch0 = np.concatenate([next(it) for _ in range(4)])
  assert len(set(epoch0[:, 0].tolist())) == 20  # 4 batches of 5, no row twice
  assert it.get_state() == {"epoch": 0, "index": 4}
  epoch1 = np.concatenate([next(it) for _ in range(4)])
  assert it.get_state() == {"epoch": 1, "index": 4}
  assert not np.array_equal(epoch0, epoch1)


def test_same_seed_same_batches_other_seed_differs():
  a = [next(BatchIterator(DATA, 4, seed=3)) for _ in range(1)]
  b = [next(BatchIterator(DATA, 4, seed=3)) for _ in range(1)]
  c = [next(BatchIterator(DATA, 4, seed=4)) for _ in range(1)]
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)


def test_restore_continues_exactly():
  it = BatchIterator(DATA, 4, seed=0)
  for _ in range(7):
    next(it)
  state = it.get_state()
  expected = [next(it) for _ in range(9)]
  fresh = BatchIterator(DATA, 4, seed=0)
  fresh.set_state(state)
  for want in expected:
    np.testing.assert_array_equal(next(fresh), want)


def test_iterator_errors():
  with pytest.raises(ValueError, match="batch_size 30 exceeds the 23 sequences"):
    BatchIterator(DATA, 30)
  with pytest.raises(ValueError, match="data must be 2-D"):
    BatchIterator(np.arange(5), 2)
  with pytest.raises(ValueError, match="out of range"):
    BatchIterator(DATA, 4).set_state({"epoch": 0, "index": 99})
