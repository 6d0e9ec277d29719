"""The official AdamW pieces against a float64 recomputation."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import fira_jax


def test_official_adamw_against_float64():
  rng = np.random.default_rng(0)
  b1, b2, eps, lr, wd = 0.9, 0.95, 1e-6, 1e-2, 0.1
  tx = optax.chain(
    fira_jax.scale_by_adam_moments(b1, b2, eps),
    fira_jax.scale_by_adam_bias_correction(b1, b2),
    optax.scale_by_learning_rate(lr),
    fira_jax.add_decayed_weights_after_update(lr, wd),
  )
  w = rng.normal(size=(4, 3))
  p = jnp.asarray(w, jnp.float32)
  state = tx.init(p)
  m = v = np.zeros_like(w)
  for t in range(1, 6):
    g = rng.normal(size=w.shape)
    u, state = tx.update(jnp.asarray(g, jnp.float32), state, p)
    p = optax.apply_updates(p, u)
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    w = w - lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v) + eps)
    w = w - lr * wd * w
    np.testing.assert_allclose(p, w, rtol=1e-5, atol=1e-6)


def test_equals_optax_adam_with_rescaled_eps():
  # N_t * sqrt(1-b2^t)/(1-b1^t) = m_hat / (sqrt(v_hat) + eps / sqrt(1 - b2^t)).
  b1, b2, eps = 0.9, 0.999, 1e-3
  ours = optax.chain(
    fira_jax.scale_by_adam_moments(b1, b2, eps), fira_jax.scale_by_adam_bias_correction(b1, b2)
  )
  s = ours.init(jnp.zeros(3))
  g = jnp.asarray([0.1, -2.0, 3.0])
  u, s = ours.update(g, s)
  ref = optax.scale_by_adam(b1, b2, eps / np.sqrt(1 - b2))
  u_ref, _ = ref.update(g, ref.init(jnp.zeros(3)))
  np.testing.assert_allclose(u, u_ref, rtol=1e-5)


def test_decay_after_update_order_and_mask():
  tx = fira_jax.add_decayed_weights_after_update(0.5, 0.2, mask={"a": True, "b": False})
  p = {"a": jnp.asarray(2.0), "b": jnp.asarray(2.0)}
  u = {"a": jnp.asarray(-1.0), "b": jnp.asarray(-1.0)}
  out, _ = tx.update(u, tx.init(p), p)
  # (W + u) * (1 - lr * wd) - W
  np.testing.assert_allclose(out["a"], (2.0 - 1.0) * (1 - 0.1) - 2.0)
  np.testing.assert_allclose(out["b"], -1.0)


def test_decay_needs_params():
  tx = fira_jax.add_decayed_weights_after_update(0.1, 0.1)
  with pytest.raises(ValueError, match="needs the parameters"):
    tx.update(jnp.ones(2), tx.init(jnp.ones(2)))


def test_mu_dtype_is_kept():
  tx = fira_jax.fira(1e-2, 2, mu_dtype=jnp.bfloat16)
  p = {"w": jnp.ones((8, 4))}
  state = tx.init(p)
  _, state = tx.update({"w": jnp.ones((8, 4))}, state, p)
  assert state[0].base_optimizer_state.mu["w"].dtype == jnp.bfloat16
  assert state[0].base_optimizer_state.nu["w"].dtype == jnp.float32
