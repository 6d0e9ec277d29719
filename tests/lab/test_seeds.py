"""Named random streams: deterministic, independent of each other, and of their order."""

import jax
import numpy as np
import pytest

from fira_jax.lab import seeds


def _bits(k):
  return np.asarray(jax.random.key_data(k))


def test_same_seed_and_purpose_give_the_same_stream():
  np.testing.assert_array_equal(_bits(seeds.key(3, "dropout")), _bits(seeds.key(3, "dropout")))
  assert seeds.seed_int(3, "data") == seeds.seed_int(3, "data")
  a, b = seeds.np_rng(3, "data").random(4), seeds.np_rng(3, "data").random(4)
  np.testing.assert_array_equal(a, b)


def test_streams_differ_across_purposes_and_seeds():
  keys = {tuple(_bits(seeds.key(s, p))) for s in range(5) for p in ("init", "dropout", "data")}
  assert len(keys) == 15
  ints = {seeds.seed_int(s, p) for s in range(5) for p in ("init", "dropout", "data")}
  assert len(ints) == 15
  # The classic offset collision (seed + 1 vs the next seed) cannot happen by construction.
  assert seeds.seed_int(0, "a") != seeds.seed_int(1, "a")


def test_key_is_fold_in_of_the_crc32():
  import zlib

  want = jax.random.fold_in(jax.random.key(7), zlib.crc32(b"agent"))
  np.testing.assert_array_equal(_bits(seeds.key(7, "agent")), _bits(want))


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True])
def test_bad_seed_is_named(seed):
  with pytest.raises(ValueError, match="seed must be a non-negative int"):
    seeds.key(seed, "x")


def test_empty_purpose_is_rejected():
  with pytest.raises(ValueError, match="purpose"):
    seeds.np_rng(0, "")
