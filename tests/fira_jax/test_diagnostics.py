"""fira_jax.fira_statistics: the residual branch's quantities, against a float64 recomputation."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import fira_jax

ALPHA, EPS, GAMMA = 0.25, 1e-6, 1.01


def _params():
  k = jax.random.split(jax.random.key(0), 3)
  return {
    "w": jax.random.normal(k[0], (12, 8)),  # right projection (m >= n)
    "v": jax.random.normal(k[1], (6, 10)),  # left projection
    "b": jax.random.normal(k[2], (5,)),  # not projected
  }


def _run(tx, steps):
  """Steps ``tx`` on random gradients; returns the last (grads, old state, new state, updates)."""
  params = _params()
  state, update = tx.init(params), jax.jit(tx.update)
  for t in range(steps):
    keys = jax.random.split(jax.random.key(t + 1), 3)
    grads = {k: jax.random.normal(key, p.shape) * (1 + t) for (k, p), key in
             zip(params.items(), keys, strict=True)}  # fmt: skip
    updates, new = update(grads, state, params)
    if t < steps - 1:
      state = new
  return grads, state, new, updates


def _reference(g, basis, mu, nu, last, side):
  """Float64 numpy recomputation of one leaf (official residual, channel scaling)."""
  g, b = np.asarray(g, np.float64), np.asarray(basis, np.float64)
  n = np.asarray(mu, np.float64) / (np.sqrt(np.asarray(nu, np.float64)) + EPS)
  if side == "left":
    g, n = g.T, n.T
  r = g @ b
  phi = np.linalg.norm(n, axis=1) / (np.linalg.norm(r, axis=1) + 1e-8)
  s = phi[:, None] * (g - ALPHA * r @ b.T)
  rho = max(np.linalg.norm(s) / (float(last) + 1e-8), GAMMA) / GAMMA
  u = ALPHA * n @ b.T + s / rho
  return {"phi": phi, "rho": rho, "residual_norm": np.linalg.norm(s) / rho,
          "low_rank_norm": np.linalg.norm(ALPHA * n @ b.T), "update_norm": np.linalg.norm(u),
          "residual_share": np.linalg.norm(s) / rho / np.linalg.norm(u)}  # fmt: skip


def test_statistics_match_a_float64_recomputation_and_the_update():
  tx = fira_jax.scale_by_low_rank_projection(
    rank=3, update_proj_gap=2, scale=ALPHA, base_optimizer=fira_jax.scale_by_adam_moments(eps=EPS),
    residual_transform=fira_jax.fira_residual("channel", GAMMA),
  )  # fmt: skip
  grads, old, new, updates = _run(tx, 3)
  stats = jax.jit(functools.partial(fira_jax.fira_statistics, alpha=ALPHA, eps=EPS, gamma=GAMMA))(
    grads, old, new
  )
  assert stats["b"] is None
  limiter = old.residual_state[1]
  for name, side in (("w", "right"), ("v", "left")):
    ref = _reference(grads[name], new.projector[name], new.base_optimizer_state.mu[name],
                     new.base_optimizer_state.nu[name], limiter.last_norm[name], side)  # fmt: skip
    got = stats[name]
    assert got["phi"].shape == ref["phi"].shape
    for key, value in ref.items():
      np.testing.assert_allclose(got[key], value, rtol=2e-4, err_msg=f"{name} {key}")
    assert bool(got["limited"]) == (ref["rho"] > 1)
    # the transform's own numbers: its limiter reference and its output
    np.testing.assert_allclose(got["residual_norm"], new.residual_state[1].last_norm[name], 1e-5)
    np.testing.assert_allclose(got["update_norm"], jnp.linalg.norm(updates[name]), rtol=1e-5)


def test_statistics_find_the_projection_inside_fira_and_a_chain():
  tx = optax.chain(optax.identity(), fira_jax.fira(1e-2, rank=3, alpha=ALPHA, update_proj_gap=2))
  grads, old, new, _ = _run(tx, 2)
  stats = jax.jit(functools.partial(fira_jax.fira_statistics, alpha=ALPHA))(grads, old, new)
  assert set(stats["w"]) >= {"phi", "rho", "limited", "residual_share"}
  no_limit = jax.jit(functools.partial(fira_jax.fira_statistics, gamma=None))(grads, old, new)
  assert float(no_limit["w"]["rho"]) == 1.0
  with pytest.raises(ValueError, match="no Fira low-rank projection"):
    fira_jax.fira_statistics(grads, optax.adam(1e-3).init(grads), optax.adam(1e-3).init(grads))
