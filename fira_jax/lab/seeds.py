"""Named random streams: one seed, many independent purposes.

Every stream is derived from ``(seed, purpose)`` alone, so adding a stream never shifts another
(no ``seed + 1_000_003`` offsets that collide silently). JAX keys fold the CRC-32 of the purpose
into the seed's key; NumPy generators and integer seeds come from a ``SeedSequence`` of both.
"""

from __future__ import annotations

import zlib

import jax
import numpy as np

__all__ = ["key", "np_rng", "seed_int", "purpose_id"]


def purpose_id(purpose: str) -> int:
  """The 32-bit identifier of a stream name (its CRC-32)."""
  if not isinstance(purpose, str) or not purpose:
    raise ValueError(f"purpose must be a non-empty string, got {purpose!r}")
  return zlib.crc32(purpose.encode("utf-8"))


def _check_seed(seed: int) -> int:
  if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
    raise ValueError(f"seed must be a non-negative int, got {seed!r}")
  return int(seed)


def key(seed: int, purpose: str) -> jax.Array:
  """A typed JAX key for ``purpose`` under ``seed``: ``fold_in(key(seed), crc32(purpose))``.

  Examples:
    >>> from fira_jax.lab import seeds
    >>> k1, k2 = seeds.key(0, "dropout"), seeds.key(0, "init")
    >>> bool((jax.random.key_data(k1) != jax.random.key_data(k2)).any())
    True
  """
  return jax.random.fold_in(jax.random.key(_check_seed(seed)), np.uint32(purpose_id(purpose)))


def seed_int(seed: int, purpose: str) -> int:
  """A 32-bit integer seed for ``purpose`` under ``seed`` (for APIs that take an int)."""
  seq = np.random.SeedSequence([_check_seed(seed), purpose_id(purpose)])
  return int(seq.generate_state(1, dtype=np.uint32)[0])


def np_rng(seed: int, purpose: str) -> np.random.Generator:
  """A NumPy ``Generator`` for ``purpose`` under ``seed``."""
  return np.random.default_rng(np.random.SeedSequence([_check_seed(seed), purpose_id(purpose)]))
