"""Output-space losses against float64 NumPy recomputations of their equations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import distill


def _log_softmax64(z):
  z = np.asarray(z, np.float64)
  z = z - z.max(-1, keepdims=True)
  return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _kd_ref(zs, zt, t):
  lp, lq = _log_softmax64(np.asarray(zt) / t), _log_softmax64(np.asarray(zs) / t)
  return t**2 * (np.exp(lp) * (lp - lq)).sum(-1)


@pytest.mark.parametrize("t", [0.5, 1.0, 4.0])
def test_kd_loss_matches_numpy(t):
  rng = np.random.default_rng(0)
  zs, zt = rng.normal(size=(2, 5, 7)).astype(np.float32) * 3
  out = distill.kd_loss(zs, zt, temperature=t)
  assert out.shape == (5,)
  np.testing.assert_allclose(out, _kd_ref(zs, zt, t), rtol=1e-4, atol=1e-6)
  assert np.all(np.asarray(out) >= -1e-6)
  np.testing.assert_allclose(distill.kd_loss(zt, zt, temperature=t), 0.0, atol=1e-5)


def test_kd_loss_class_mask_excludes_classes():
  rng = np.random.default_rng(1)
  zs, zt = rng.normal(size=(2, 3, 6)).astype(np.float32)
  where = np.ones((3, 6), bool)
  where[:, 4:] = False
  masked = distill.kd_loss(zs, zt, temperature=2.0, where=where)
  np.testing.assert_allclose(masked, _kd_ref(zs[:, :4], zt[:, :4], 2.0), rtol=1e-4)
  zs2 = zs.copy()
  zs2[:, 4:] += 100.0  # changing excluded classes changes nothing
  np.testing.assert_allclose(distill.kd_loss(zs2, zt, temperature=2.0, where=where), masked)


def test_kd_gradients_finite_and_traced_temperature():
  zs, zt = jax.random.normal(jax.random.key(0), (2, 4, 9)) * 10
  g = jax.grad(lambda s, t: distill.kd_loss(s, zt, temperature=t).sum(), argnums=(0, 1))(zs, 3.0)
  assert all(np.all(np.isfinite(x)) for x in g)
  jitted = jax.jit(lambda s, t: distill.kd_loss(s, zt, temperature=t))
  np.testing.assert_allclose(jitted(zs, 3.0), distill.kd_loss(zs, zt, temperature=3.0), rtol=1e-5)
  jitted(zs, 0.5)  # a new temperature value does not recompile
  assert jitted._cache_size() == 1


def test_token_kd_loss_masks_tokens():
  rng = np.random.default_rng(2)
  zs, zt = rng.normal(size=(2, 3, 5, 11)).astype(np.float32)
  where = rng.random((3, 5)) > 0.4
  where[0] = False
  out = distill.token_kd_loss(zs, zt, temperature=2.0, where=where)
  per = _kd_ref(zs, zt, 2.0)
  ref = (per * where).sum(-1) / np.maximum(where.sum(-1), 1)
  np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-6)
  assert out[0] == 0.0
  zs2 = np.where(where[..., None], zs, zs + 50.0)
  np.testing.assert_allclose(
    distill.token_kd_loss(zs2, zt, temperature=2.0, where=where), out, rtol=1e-5
  )


def test_label_smoothing_matches_numpy():
  rng = np.random.default_rng(3)
  logits = rng.normal(size=(6, 5)).astype(np.float32)
  labels = rng.integers(0, 5, 6)
  target = np.full((6, 5), 0.1 / 4)
  target[np.arange(6), labels] = 0.9
  ref = -(target * _log_softmax64(logits)).sum(-1)
  np.testing.assert_allclose(distill.label_smoothing_loss(logits, labels), ref, rtol=1e-5)
  np.testing.assert_allclose(distill.smooth_labels(labels, 5).sum(-1), 1.0, rtol=1e-6)


def test_symmetric_kl_matches_numpy():
  rng = np.random.default_rng(4)
  a, b = rng.normal(size=(2, 4, 6))
  lp, lq = _log_softmax64(a), _log_softmax64(b)
  ref = 0.5 * ((np.exp(lp) - np.exp(lq)) * (lp - lq)).sum(-1)
  np.testing.assert_allclose(distill.symmetric_kl_from_logits(a, b), ref, rtol=1e-4)


def test_bad_inputs_raise():
  z = jnp.zeros((2, 3))
  with pytest.raises(ValueError, match="same shape"):
    distill.kd_loss(z, jnp.zeros((2, 4)))
  with pytest.raises(ValueError, match="temperature must be > 0"):
    distill.kd_loss(z, z, temperature=0.0)
  with pytest.raises(ValueError, match="temperature must be > 0"):
    distill.kd_loss(z, z, temperature=-1.0)
  with pytest.raises(ValueError, match="where must have shape"):
    distill.token_kd_loss(jnp.zeros((2, 3, 4)), jnp.zeros((2, 3, 4)), where=jnp.ones((2, 4)))
  with pytest.raises(ValueError, match=r"alpha must lie in \[0, 1\]"):
    distill.label_smoothing_loss(z, jnp.zeros(2, int), alpha=1.5)
  with pytest.raises(ValueError, match="labels must have shape"):
    distill.label_smoothing_loss(z, jnp.zeros(3, int))
