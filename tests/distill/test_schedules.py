"""Schedules and re-weighted KD: equations, phase switches under jit, meta-gradient."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import distill


def _log_softmax64(z):
  z = np.asarray(z, np.float64)
  z = z - z.max(-1, keepdims=True)
  return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _kd(zs, zt, t):
  lp, lq = _log_softmax64(zt / t), _log_softmax64(zs / t)
  return t**2 * (np.exp(lp) * (lp - lq)).sum(-1)


RNG = np.random.default_rng(0)
ZS, ZT = RNG.normal(size=(2, 4, 6))
Y = RNG.integers(0, 6, 4)


def test_annealing_temperature_rises_from_one_to_tau_max():
  ts = np.asarray(
    [distill.annealing_temperature(s, phase1_steps=100, tau_max=10) for s in range(0, 140)]
  )
  assert ts[0] == 1 and ts[-1] == 10 and ts[99] == 10 and ts[9] == 1 and ts[10] == 2
  assert np.all(np.diff(ts) >= 0)


def test_annealing_objective_switches_phase_under_jit():
  f = jax.jit(lambda s: distill.annealing_kd_objective(ZS, ZT, Y, s, phase1_steps=50, tau_max=10))
  t = 1 + np.floor(20 * 10 / 50)
  np.testing.assert_allclose(f(20), ((ZS - ZT * t / 10) ** 2).mean(-1), rtol=1e-5)
  ce = -_log_softmax64(ZS)[np.arange(4), Y]
  np.testing.assert_allclose(f(60), ce, rtol=1e-5)
  assert f._cache_size() == 1  # the phase switch is traced, not a recompilation


def test_pro_kd_follows_temperature_schedule():
  temps = [
    float(distill.pro_kd_temperature(k, num_stages=4, t_start=4.0, t_end=1.0)) for k in range(4)
  ]
  np.testing.assert_allclose(temps, [4.0, 3.0, 2.0, 1.0])
  np.testing.assert_allclose(
    distill.pro_kd_loss(ZS, ZT, 1, num_stages=4), _kd(ZS, ZT, 3.0), rtol=1e-4
  )


def test_continuation_kd_interpolates():
  for lam in [0.0, 0.3, 1.0]:
    ref = (1 - lam) * _kd(ZS, ZT, 4.0) + lam * _kd(ZS, ZT, 1.0)
    np.testing.assert_allclose(distill.continuation_kd_loss(ZS, ZT, lam), ref, rtol=1e-4)
  with pytest.raises(ValueError, match=r"lam must lie in \[0, 1\]"):
    distill.continuation_kd_loss(ZS, ZT, 1.5)


def test_reweighted_kd_and_meta_gradient():
  w = RNG.random(4)
  ce = -_log_softmax64(ZS)[np.arange(4), Y]
  np.testing.assert_allclose(
    distill.reweighted_kd_loss(ZS, ZT, Y, w, temperature=2.0),
    w * ce + (1 - w) * _kd(ZS, ZT, 2.0),
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


def test_schedule_bad_inputs():
  with pytest.raises(ValueError, match="phase1_steps must be > 0"):
    distill.annealing_temperature(0, phase1_steps=0)
  with pytest.raises(ValueError, match="temperature must be > 0"):
    distill.annealing_kd_loss(ZS, ZT, temperature=0.0)
  with pytest.raises(ValueError, match="num_stages must be >= 1"):
    distill.pro_kd_temperature(0, num_stages=0)
