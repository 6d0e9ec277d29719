import jax.numpy as jnp
import numpy as np
import pytest

from graphs._temporal import (
  EventStream,
  NeighborIndex,
  event_batches,
  last_write_mask,
  time_encoding,
)


def _stream():
  src = np.array([1, 1, 2, 1, 3])
  dst = np.array([2, 3, 3, 4, 1])
  t = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
  return EventStream(src, dst, t, np.arange(1, 6), 4)


def test_most_recent_strictly_before_and_left_padded():
  idx = NeighborIndex(_stream())
  ids, t, _, mask = idx.most_recent(np.array([1, 1]), np.array([4.0, 100.0]), 3)
  np.testing.assert_array_equal(ids[0], [0, 2, 3])
  np.testing.assert_array_equal(mask[0], [False, True, True])
  np.testing.assert_array_equal(ids[1], [3, 4, 3])
  np.testing.assert_array_equal(t[1], [2.0, 4.0, 5.0])


def test_exclude_and_batches_and_last_write():
  idx = NeighborIndex(_stream(), exclude=np.array([3]))
  ids, _, _, mask = idx.most_recent(np.array([1]), None, 4)
  assert 3 not in ids[0][mask[0]]
  batches = list(event_batches(_stream(), 2))
  assert [b.mask.sum() for b in batches] == [2, 2, 1] and batches[-1].src.shape == (2,)
  last = last_write_mask(jnp.array([1, 2, 1, 0]), jnp.array([1, 1, 1, 0]))
  np.testing.assert_array_equal(last, [False, True, True, False])
  np.testing.assert_allclose(time_encoding(jnp.array([0.0]), 5), np.ones((1, 5)))


def test_bad_stream():
  with pytest.raises(ValueError, match="non-decreasing"):
    EventStream(np.array([1, 2]), np.array([2, 1]), np.array([2.0, 1.0]), np.arange(2), 2)
  with pytest.raises(ValueError, match="node ids"):
    EventStream(np.array([0]), np.array([1]), np.array([1.0]), np.arange(1), 2)
