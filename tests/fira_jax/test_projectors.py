"""Exact (SVD, Gram eigensolver) and randomized SVD projectors."""

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


EXACT = {"svd": fira_jax.svd_projector, "eigh": fira_jax.eigh_projector}


@pytest.mark.parametrize("name", list(EXACT))
@pytest.mark.parametrize("shape", [(40, 24), (24, 40)])
def test_exact_projectors_match_numpy_float64(shape, name):
  g = _low_rank(*shape, 24)
  u, v = jax.jit(EXACT[name], static_argnums=1)(g, 5, jnp.asarray(0))
  u64, _, vh64 = np.linalg.svd(np.asarray(g, np.float64), full_matrices=False)
  assert u.shape == (shape[0], 5) and v.shape == (shape[1], 5)
  assert _subspace_distance(np.asarray(u), u64[:, :5]) < 1e-4
  assert _subspace_distance(np.asarray(v), vh64[:5].T) < 1e-4
  np.testing.assert_allclose(u.T @ u, np.eye(5), atol=1e-5)
  np.testing.assert_allclose(v.T @ v, np.eye(5), atol=1e-5)


def test_eigh_projector_columns_are_the_singular_vectors_in_order():
  # Distinct singular values 10, 5, 2, 1, ...: each column is +-the float64 singular vector.
  rng = np.random.default_rng(2)
  q1, _ = np.linalg.qr(rng.normal(size=(30, 12)))
  q2, _ = np.linalg.qr(rng.normal(size=(50, 12)))
  s = np.array([10, 5, 2, 1, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01])
  g = q1 @ np.diag(s) @ q2.T
  u, v = fira_jax.eigh_projector(jnp.asarray(g, jnp.float32), 4, jnp.asarray(0))
  np.testing.assert_allclose(np.abs(np.sum(np.asarray(u) * q1[:, :4], 0)), 1.0, atol=1e-4)
  np.testing.assert_allclose(np.abs(np.sum(np.asarray(v) * q2[:, :4], 0)), 1.0, atol=1e-4)
  # Canonical signs: each column's largest-magnitude entry is positive.
  for b in (np.asarray(u), np.asarray(v)):
    assert np.all(b[np.argmax(np.abs(b), 0), np.arange(4)] > 0)


@pytest.mark.parametrize("name", ["eigh", "rsvd"])
def test_projectors_stay_orthonormal_on_rank_deficient_gradients(name):
  proj = EXACT.get(name) or fira_jax.randomized_svd_projector(oversample=2)
  for g in (jnp.zeros((20, 12)), _low_rank(20, 12, 2)):  # rank 0 and 2 < r = 5
    u, v = proj(g, 5, jnp.asarray(1))
    assert np.all(np.isfinite(u)) and np.all(np.isfinite(v))
    np.testing.assert_allclose(u.T @ u, np.eye(5), atol=1e-5)
    np.testing.assert_allclose(v.T @ v, np.eye(5), atol=1e-5)


def test_randomized_svd_basis_does_not_depend_on_the_sketch():
  # With canonical signs, two different random sketches give the same basis (not just the
  # same span), so Adam moments carried across a refresh keep their meaning.
  g = _low_rank(48, 80, 6, seed=4)
  a, _ = fira_jax.randomized_svd_projector(seed=0)(g, 4, jnp.asarray(0))
  b, _ = fira_jax.randomized_svd_projector(seed=1)(g, 4, jnp.asarray(7))
  np.testing.assert_allclose(a, b, atol=1e-4)


def test_randomized_svd_with_a_full_sketch_is_the_eigh_projector():
  g = jax.random.normal(jax.random.PRNGKey(1), (12, 30))
  u, v = fira_jax.randomized_svd_projector(oversample=8)(g, 6, jnp.asarray(0))  # k = 12 = m
  u_e, v_e = fira_jax.eigh_projector(g, 6, jnp.asarray(0))
  np.testing.assert_array_equal(u, u_e)
  np.testing.assert_array_equal(v, v_e)


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


@pytest.mark.parametrize("name", ["eigh", "rsvd"])
def test_fast_projectors_train_like_the_exact_svd(name):
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

  fast = EXACT.get(name) or fira_jax.randomized_svd_projector()
  exact, rnd = train(None), train(fast)
  initial = float(loss(jnp.zeros((32, 16))))
  assert exact < 0.15 * initial and rnd < 0.15 * initial
  assert rnd < 1.3 * exact  # comparable progress (bases differ by rotations inside the span)


def test_randomized_projector_argument_errors():
  with pytest.raises(ValueError, match="`oversample`"):
    fira_jax.randomized_svd_projector(oversample=-1)
  with pytest.raises(ValueError, match="`power_iters`"):
    fira_jax.randomized_svd_projector(power_iters=1.5)
  with pytest.raises(ValueError, match="`oversample`"):
    fira_jax.randomized_svd_projector(oversample=True)
