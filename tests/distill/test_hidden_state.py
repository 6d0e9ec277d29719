"""FitNets hidden-state matching and the per-layer filters, against float64 NumPy."""

import jax
import numpy as np
import pytest
from flax import nnx

import distill

RNG = np.random.default_rng(0)
B, L, C = 3, 4, 5


def test_hidden_state_loss_matches_numpy_and_masks():
  hs = [RNG.normal(size=(B, L, 6)), RNG.normal(size=(B, L, 3))]
  ht = [RNG.normal(size=(B, L, 4)) for _ in range(3)]
  ws = [RNG.normal(size=(6, 4)), RNG.normal(size=(3, 4))]
  where = RNG.random((B, L)) > 0.3
  where[:, 0] = True
  out = distill.hidden_state_loss(hs, ht, ws, layer_map=[0, 2], where=where)
  ref = 0
  for h, w, m in zip(hs, ws, [0, 2], strict=True):
    sq = ((h @ w - ht[m]) ** 2).sum(-1)
    ref = ref + (sq * where).sum(-1) / where.sum(-1)
  np.testing.assert_allclose(out, ref, rtol=1e-4)
  hs2 = [np.where(where[..., None], h, h + 9.0) for h in hs]
  np.testing.assert_allclose(
    distill.hidden_state_loss(hs2, ht, ws, layer_map=[0, 2], where=where), out, rtol=1e-5
  )


def test_linear_filters_feed_hidden_state_loss_with_finite_grads():
  filters = distill.LinearFilters([6, 3], 4, rngs=nnx.Rngs(0))
  hs = [
    RNG.normal(size=(B, L, 6)).astype(np.float32),
    RNG.normal(size=(B, L, 3)).astype(np.float32),
  ]
  ht = [RNG.normal(size=(B, L, 4)).astype(np.float32) for _ in range(2)]

  def loss(f):
    ws = [layer.kernel[...] for layer in f.layers]
    return distill.hidden_state_loss(hs, ht, ws).mean()

  grads = nnx.grad(loss)(filters)
  assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
  assert [o.shape for o in filters(hs)] == [(B, L, 4), (B, L, 4)]
  with pytest.raises(ValueError, match="expected 2 hidden states"):
    filters(hs[:1])


def test_hidden_state_bad_inputs():
  h = [np.zeros((B, 4))]
  with pytest.raises(ValueError, match="at least one array"):
    distill.hidden_state_loss([], [], [])
  with pytest.raises(ValueError, match="layer_map entry 5"):
    distill.hidden_state_loss(h, h, [np.eye(4)], layer_map=[5])
