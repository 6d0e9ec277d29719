"""Intermediate-layer losses against float64 NumPy recomputations."""

import jax
import numpy as np
import pytest
from flax import nnx

import distill


def _log_softmax64(z):
  z = np.asarray(z, np.float64)
  z = z - z.max(-1, keepdims=True)
  return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _ce(z, y):
  return -_log_softmax64(z)[np.arange(len(y)), y]


def _kl(zp, zq):
  lp, lq = _log_softmax64(zp), _log_softmax64(zq)
  return (np.exp(lp) * (lp - lq)).sum(-1)


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


def test_ted_loss_matches_numpy():
  zs, zt = RNG.normal(size=(2, B, C))
  y = RNG.integers(0, C, B)
  fs = [RNG.normal(size=(B, L, 4)) for _ in range(2)]
  ft = [RNG.normal(size=(B, L, 4)) for _ in range(2)]
  out = distill.ted_loss(zs, zt, y, fs, ft, alpha_kl=5.0, alpha_mse=7.0, temperature=2.0)
  mse = sum(((a - b) ** 2).mean((1, 2)) for a, b in zip(fs, ft, strict=True)) / 2
  ref = _ce(zs, y) + 5.0 * 4.0 * _kl(zt / 2, zs / 2) + 7.0 * mse
  np.testing.assert_allclose(out, ref, rtol=1e-4)


def test_moebert_loss_matches_numpy():
  zs, zt = RNG.normal(size=(2, B, C))
  y = RNG.integers(0, C, B)
  hs = [RNG.normal(size=(B, L, 4)) for _ in range(3)]
  ht = [RNG.normal(size=(B, L, 4)) for _ in range(3)]
  out = distill.moebert_loss(zs, zt, y, hs, ht, lam=5.0)
  lp, lq = _log_softmax64(zt), _log_softmax64(zs)
  sym = 0.5 * ((np.exp(lp) - np.exp(lq)) * (lp - lq)).sum(-1)
  mse = sum(((a - b) ** 2).mean((1, 2)) for a, b in zip(hs, ht, strict=True))
  np.testing.assert_allclose(out, _ce(zs, y) + 5.0 * (mse + sym), rtol=1e-4)


def test_universal_kd_matches_numpy():
  zs = [RNG.normal(size=(B, C)) for _ in range(2)]
  zt = [RNG.normal(size=(B, C)) for _ in range(3)]
  hs = [RNG.normal(size=(B, 8)) for _ in range(2)]
  ht = [RNG.normal(size=(B, 8)) for _ in range(3)]
  t = 2.0
  out = distill.universal_kd_loss(zs, zt, hs, ht, temperature=t)
  ref = np.zeros(B)
  pt = np.stack([np.exp(_log_softmax64(z / t)) for z in zt], 1)  # (B, Kt, C)
  for i in range(2):
    s = np.stack([(hs[i] * h).sum(-1) for h in ht], 1) / np.sqrt(8)
    a = np.exp(s - s.max(1, keepdims=True))
    a /= a.sum(1, keepdims=True)
    mix = (a[..., None] * pt).sum(1)
    ref += t**2 * (mix * (np.log(mix) - _log_softmax64(zs[i] / t))).sum(-1) / 2
  np.testing.assert_allclose(out, ref, rtol=1e-4)


def test_layerwise_bad_inputs():
  h = [np.zeros((B, 4))]
  with pytest.raises(ValueError, match="same number|as many layers"):
    distill.moebert_loss(np.zeros((B, C)), np.zeros((B, C)), np.zeros(B, int), h, h + h)
  with pytest.raises(ValueError, match="at least one array"):
    distill.hidden_state_loss([], [], [])
  with pytest.raises(ValueError, match="layer_map entry 5"):
    distill.hidden_state_loss(h, h, [np.eye(4)], layer_map=[5])
  with pytest.raises(ValueError, match="temperature must be > 0"):
    distill.universal_kd_loss([np.zeros((B, C))], [np.zeros((B, C))], h, h, temperature=0.0)
  with pytest.raises(ValueError, match="share a width"):
    distill.universal_kd_loss([np.zeros((B, C))], [np.zeros((B, C))], h, [np.zeros((B, 3))])
