"""RW-KD: the per-example mix and the one-step look-ahead meta-gradient."""

import jax.numpy as jnp
import numpy as np
import pytest

import distill
from tests.distill.reference import kd64, log_softmax64

RNG = np.random.default_rng(0)
ZS, ZT = RNG.normal(size=(2, 4, 6))
Y = RNG.integers(0, 6, 4)


def test_reweighted_kd_and_meta_gradient():
  w = RNG.random(4)
  ce = -log_softmax64(ZS)[np.arange(4), Y]
  np.testing.assert_allclose(
    distill.reweighted_kd_loss(ZS, ZT, Y, w, temperature=2.0),
    w * ce + (1 - w) * kd64(ZS, ZT, 2.0),
    rtol=1e-4,
  )
  with pytest.raises(ValueError, match="weights must have shape"):
    distill.reweighted_kd_loss(ZS, ZT, Y, w[:2])
  # The meta-gradient equals a finite difference of the look-ahead held-out loss.
  x = jnp.asarray(RNG.normal(size=(4, 3)), jnp.float32)
  feats = jnp.asarray(RNG.normal(size=(4, 2)), jnp.float32)
  theta = jnp.asarray(RNG.normal(size=(3, 6)), jnp.float32)
  phi = jnp.asarray(RNG.normal(size=(2,)), jnp.float32)

  def apply(p, xx):
    return xx @ p

  def meta(p, f):
    return f @ p

  train = (x, jnp.asarray(Y), jnp.asarray(ZT, jnp.float32), feats)
  held = (x[:2] + 0.5, jnp.asarray(Y[:2]))
  loss, g = distill.rw_kd_meta_gradient(apply, meta, theta, phi, train, held, inner_lr=0.5)
  eps = 1e-2
  for i in range(2):
    d = jnp.zeros(2).at[i].set(eps)
    lp, _ = distill.rw_kd_meta_gradient(apply, meta, theta, phi + d, train, held, inner_lr=0.5)
    lm, _ = distill.rw_kd_meta_gradient(apply, meta, theta, phi - d, train, held, inner_lr=0.5)
    np.testing.assert_allclose(g[i], (lp - lm) / (2 * eps), rtol=5e-2, atol=1e-4)
  assert np.isfinite(loss)
