"""Exact and randomized SVD projectors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fira_jax


def _low_rank(m, n, k, seed=0):
  rng = np.random.default_rng(seed)
  return jnp.asarray(rng.normal(size=(m, k)) @ rng.normal(size=(k, n)), jnp.float32)


def _subspace_distance(a, b):
  """Spectral norm of the difference of the orthogonal projectors onto span(a), span(b)."""
  return float(np.linalg.norm(a @ a.T - b @ b.T, 2))


@pytest.mark.parametrize("shape", [(40, 24), (24, 40)])
def test_exact_svd_matches_numpy_float64(shape):
  g = _low_rank(*shape, 24)
  u, v = fira_jax.svd_projector(g, 5, jnp.asarray(0))
  u64, _, vh64 = np.linalg.svd(np.asarray(g, np.float64), full_matrices=False)
  assert _subspace_distance(np.asarray(u), u64[:, :5]) < 1e-4
  assert _subspace_distance(np.asarray(v), vh64[:5].T) < 1e-4


@pytest.mark.parametrize("shape", [(64, 32), (32, 96)])
def test_randomized_svd_is_exact_on_low_rank_matrices(shape):
  g = _low_rank(*shape, 6)
  proj = fira_jax.randomized_svd_projector(oversample=4, power_iters=1)
  u, v = proj(g, 6, jnp.asarray(3))
  u_ex, v_ex = fira_jax.svd_projector(g, 6, 0)
  assert _subspace_distance(np.asarray(u), np.asarray(u_ex)) < 1e-3
  assert _subspace_distance(np.asarray(v), np.asarray(v_ex)) < 1e-3
  np.testing.assert_allclose(u.T @ u, np.eye(6), atol=1e-5)
  np.testing.assert_allclose(v.T @ v, np.eye(6), atol=1e-5)


def test_randomized_svd_captures_the_energy_of_a_decaying_spectrum():
  rng = np.random.default_rng(0)
  q1, _ = np.linalg.qr(rng.normal(size=(128, 64)))
  q2, _ = np.linalg.qr(rng.normal(size=(64, 64)))
  g = jnp.asarray(q1 @ np.diag(0.8 ** np.arange(64)) @ q2.T, jnp.float32)
  r = 8
  u_ex, _ = fira_jax.svd_projector(g, r, 0)
  u_rnd, _ = fira_jax.randomized_svd_projector()(g, r, jnp.asarray(0))
  energy = lambda u: float(jnp.linalg.norm(u.T @ g) ** 2 / jnp.linalg.norm(g) ** 2)  # noqa: E731
  assert energy(u_rnd) >= 0.99 * energy(u_ex)


def test_randomized_svd_is_deterministic_per_step_and_jits():
  g = jax.random.normal(jax.random.PRNGKey(0), (30, 20))
  proj = jax.jit(fira_jax.randomized_svd_projector(seed=3), static_argnums=1)
  a, _ = proj(g, 4, jnp.asarray(5))
  b, _ = proj(g, 4, jnp.asarray(5))
  c, _ = proj(g, 4, jnp.asarray(6))
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)


def test_randomized_projector_trains_like_exact():
  target = _low_rank(32, 16, 3, seed=1)
  loss = lambda w: jnp.sum((w - target) ** 2)  # noqa: E731

  def train(projector_fn):
    tx = fira_jax.fira(0.1, 3, update_proj_gap=10, projector_fn=projector_fn)
    w = jnp.zeros((32, 16))
    state = tx.init(w)

    @jax.jit
    def step(w, state):
      u, state = tx.update(jax.grad(loss)(w), state, w)
      return w + u, state

    for _ in range(100):
      w, state = step(w, state)
    return float(loss(w))

  exact, rnd = train(None), train(fira_jax.randomized_svd_projector())
  initial = float(loss(jnp.zeros((32, 16))))
  assert exact < 0.15 * initial and rnd < 0.15 * initial
  assert rnd < 1.3 * exact  # comparable progress (bases differ by rotations inside the span)


def test_randomized_projector_argument_errors():
  with pytest.raises(ValueError, match="`oversample`"):
    fira_jax.randomized_svd_projector(oversample=-1)
  with pytest.raises(ValueError, match="`power_iters`"):
    fira_jax.randomized_svd_projector(power_iters=1.5)
