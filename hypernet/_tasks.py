"""k-way sub-datasets ("episodes") with permuted labels, sampled on the device from a key.

A :class:`Pool` keeps a dataset's images grouped by class, ``(C, M, H, W, Ch)`` uint8 with ``M``
the smallest class count, so an episode is a pure function of a key: pick ``k`` of the pool's
classes without replacement (their order is the label permutation), then ``n`` distinct images
per class. Meta-training draws the episode of step ``t`` from ``fold_in(key, t)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from hypernet._data import ImageSet

__all__ = ["Pool", "Episode", "make_pool", "sample_episode", "flatten"]


class Pool(NamedTuple):
  """Images by class: ``images`` uint8 ``(C, M, H, W, Ch)``, ``classes`` the original ids
  ``(C,)``, and the per-channel ``mean``/``std`` ``(Ch,)`` used to normalise them."""

  images: jax.Array
  classes: jax.Array
  mean: jax.Array
  std: jax.Array


class Episode(NamedTuple):
  """One sub-dataset, class ``j`` of the episode in row ``j`` (its label is ``j``).

  Attributes:
    train: normalised images ``(k, n_train, H, W, Ch)`` (the support set is its first
      ``n_support`` per class).
    test: normalised images ``(k, n_test, H, W, Ch)``, disjoint from ``train``.
    classes: the original class ids ``(k,)`` (row ``j`` is original class ``classes[j]``).
  """

  train: jax.Array
  test: jax.Array
  classes: jax.Array


def make_pool(
  data: ImageSet,
  *,
  classes: Sequence[int] | None = None,
  mean: np.ndarray | None = None,
  std: np.ndarray | None = None,
  k: int | None = None,
  per_class: int = 0,
) -> Pool:
  """Groups ``data`` by class (only ``classes`` if given) onto the device.

  Args:
    data: the images.
    classes: the original classes to keep (default all).
    mean, std: per-channel normalisation of the ``[0, 1]`` images (default none).
    k: if given, checks that at least ``k`` classes are available.
    per_class: if > 0, checks that every class has at least this many images.
  """
  classes = list(range(data.num_classes)) if classes is None else [int(c) for c in classes]
  if k is not None and k > len(classes):
    raise ValueError(f"k = {k} classes asked for, but only {len(classes)} are available: {classes}")
  groups = [data.x[data.y == c] for c in classes]
  m = min(len(g) for g in groups)
  if m == 0 or m < per_class:
    raise ValueError(
      f"each class needs >= {max(per_class, 1)} images, the smallest has {m} (classes {classes})"
    )
  ch = data.x.shape[-1]
  mean = np.zeros(ch) if mean is None else np.asarray(mean)
  std = np.ones(ch) if std is None else np.asarray(std)
  return Pool(
    jnp.asarray(np.stack([g[:m] for g in groups])),
    jnp.asarray(classes, jnp.int32),
    jnp.asarray(mean, jnp.float32),
    jnp.asarray(std, jnp.float32),
  )


def sample_episode(
  pool: Pool, key: jax.Array, *, k: int, n_train: int, n_test: int, permute: bool = True
) -> Episode:
  """A k-way sub-dataset from ``pool`` (jit/vmap-able; shapes static in ``k`` and the counts).

  With ``permute=False`` the chosen classes keep the pool's order (label ``j`` = the ``j``-th
  smallest chosen class), as a fixed-order classifier head needs.
  """
  c, m = pool.images.shape[:2]
  if k > c:
    raise ValueError(f"k = {k} classes asked for, but the pool has only {c}")
  n = n_train + n_test
  if n > m:
    raise ValueError(f"{n} images per class asked for, but the pool has only {m} per class")
  k_cls, k_img = jax.random.split(key)
  rows = jax.random.choice(k_cls, c, (k,), replace=False)
  if not permute:
    rows = jnp.sort(rows)
  idx = jax.vmap(lambda kk: jax.random.choice(kk, m, (n,), replace=False))(
    jax.random.split(k_img, k)
  )
  x = pool.images[rows[:, None], idx].astype(jnp.float32) / 255.0
  x = (x - pool.mean) / pool.std
  return Episode(x[:, :n_train], x[:, n_train:], pool.classes[rows])


def flatten(x: jax.Array) -> tuple[jax.Array, jax.Array]:
  """``(k, n, ...)`` per-class images → ``(k n, ...)`` images and labels ``(k n,)``."""
  k, n = x.shape[:2]
  return x.reshape(k * n, *x.shape[2:]), jnp.repeat(jnp.arange(k, dtype=jnp.int32), n)
