"""Norm-based scaling and the norm-growth limiter."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fira_jax


@pytest.mark.parametrize("mode", ["channel", "matrix", "none"])
def test_norm_ratio_against_float64(mode):
  rng = np.random.default_rng(0)
  s, r, n = rng.normal(size=(7, 11)), rng.normal(size=(7, 3)), rng.normal(size=(7, 3))
  tx = fira_jax.scale_by_norm_ratio(mode)
  out, _ = tx.update(
    {"w": jnp.asarray(s, jnp.float32)},
    tx.init(None),
    low_rank_grads={"w": jnp.asarray(r, jnp.float32)},
    low_rank_updates={"w": jnp.asarray(n, jnp.float32)},
  )
  if mode == "channel":
    phi = np.linalg.norm(n, axis=1, keepdims=True) / (
      np.linalg.norm(r, axis=1, keepdims=True) + 1e-8
    )
  elif mode == "matrix":
    phi = np.linalg.norm(n) / (np.linalg.norm(r) + 1e-8)
  else:
    phi = 1.0
  np.testing.assert_allclose(out["w"], s * phi, rtol=1e-5, atol=1e-6)


def test_norm_ratio_requires_its_extra_arguments():
  tx = fira_jax.scale_by_norm_ratio()
  with pytest.raises(ValueError, match="low_rank_grads"):
    tx.update({"w": jnp.ones((2, 2))}, tx.init(None))


@settings(max_examples=25, deadline=None)
@given(
  scales=st.lists(st.floats(1e-3, 1e3), min_size=2, max_size=8),
  gamma=st.floats(1.0, 2.0),
)
def test_limiter_bounds_growth_and_matches_float64(scales, gamma):
  tx = fira_jax.limit_norm_growth(gamma)
  base = jnp.asarray(np.random.default_rng(1).normal(size=(5, 4)), jnp.float32)
  state = tx.init({"w": base})
  ref, prev = None, None
  for k, c in enumerate(scales):
    u, state = tx.update({"w": base * c}, state)
    norm = float(jnp.linalg.norm(u["w"]))
    # float64 recomputation of the official rule
    raw = c * float(np.linalg.norm(np.asarray(base, np.float64)))
    if k == 0:
      expect, ref = raw, raw
    else:
      rho = max(raw / (ref + 1e-8), gamma) / gamma
      expect = raw / rho
      ref = expect
      assert norm <= gamma * prev * (1 + 1e-5)
    np.testing.assert_allclose(norm, expect, rtol=1e-5)
    np.testing.assert_allclose(float(state.last_norm["w"]), expect, rtol=1e-5)
    prev = norm


def test_limiter_works_on_any_update_chain_and_tames_a_spike():
  tx = optax.chain(optax.scale_by_adam(), fira_jax.limit_norm_growth(1.01))
  p = {"w": jnp.ones((3, 3)), "b": jnp.ones(3)}
  state = tx.init(p)
  norms = []
  for t in range(6):
    g = jax.tree.map(lambda x, t=t: x * (1000.0 if t == 3 else 1.0) * (t + 1), p)
    u, state = tx.update(g, state)
    norms.append([float(jnp.linalg.norm(v)) for v in jax.tree.leaves(u)])
  norms = np.asarray(norms)
  assert np.all(norms[1:] <= 1.01 * norms[:-1] * (1 + 1e-6))


def test_fira_limiter_holds_through_gradient_spike(fixtures_dir):
  d = np.load(fixtures_dir / "fira" / "fira_wd_spikes.npz")
  tx = fira_jax.fira(5e-3, 6, update_proj_gap=5, b2=0.95, eps=1e-8, weight_decay=0.1)
  p = jnp.asarray(d["initial_param"])
  state = tx.init(p)
  refs = []
  for g in d["grads"]:
    u, state = tx.update(jnp.asarray(g), state, p)
    p = optax.apply_updates(p, u)
    refs.append(float(state[0].residual_state[1].last_norm))
  refs = np.asarray(refs)
  assert np.all(refs[1:] <= 1.01 * refs[:-1] * (1 + 1e-6))


def test_ablations_change_the_update():
  key = jax.random.PRNGKey(0)
  p = {"w": jax.random.normal(key, (16, 8))}
  g = {"w": jax.random.normal(jax.random.fold_in(key, 1), (16, 8))}

  def first_update(**kw):
    tx = fira_jax.fira(1e-2, 2, **kw)
    return tx.update(g, tx.init(p), p)[0]["w"]

  official = first_update()
  galore = fira_jax.galore(1e-2, 2)
  galore_u = galore.update(g, galore.init(p), p)[0]["w"]
  for kw in (dict(norm_scaling="matrix"), dict(norm_scaling="none"), dict(alpha=0.5)):
    assert not np.allclose(first_update(**kw), official)
  assert not np.allclose(galore_u, official)
  # residual_form only matters when alpha != 1.
  np.testing.assert_allclose(first_update(residual_form="paper"), official, rtol=1e-6)
  assert not np.allclose(first_update(residual_form="paper", alpha=0.25), first_update(alpha=0.25))
  # gamma=None removes the limiter from the chain; the first step is unlimited either way.
  np.testing.assert_allclose(first_update(gamma=None), official, rtol=1e-6)


@pytest.mark.parametrize(
  "mode, gamma, alpha, form, proj_type, dtype",
  [
    ("channel", 1.01, 1.0, "official", "std", jnp.float32),
    ("channel", 1.01, 0.25, "official", "reverse_std", jnp.float32),
    ("matrix", 1.5, 0.25, "paper", "std", jnp.float32),
    ("none", None, 0.5, "official", "left", jnp.float32),
    ("channel", 1.01, 0.25, "official", "std", jnp.bfloat16),
  ],
)
def test_fused_residual_equals_the_unfused_chain(mode, gamma, alpha, form, proj_type, dtype):
  key = jax.random.PRNGKey(0)
  params = {
    "tall": jax.random.normal(key, (24, 10), dtype),
    "wide": jax.random.normal(jax.random.fold_in(key, 1), (6, 20), dtype),
    "attn": jax.random.normal(jax.random.fold_in(key, 2), (12, 2, 4), dtype),
    "bias": jnp.zeros((10,), dtype),
  }
  dims = {
    "tall": fira_jax.GaLoreDimensionNumbers(),
    "wide": fira_jax.GaLoreDimensionNumbers(),
    "attn": fira_jax.GaLoreDimensionNumbers(0, (1, 2)),
    "bias": None,
  }
  parts = [fira_jax.scale_by_norm_ratio(mode)]
  if gamma is not None:
    parts.append(fira_jax.limit_norm_growth(gamma))

  def make(residual):
    return fira_jax.scale_by_low_rank_projection(
      3,
      2,
      alpha,
      fira_jax.scale_by_adam_moments(),
      dims,
      proj_type=proj_type,
      residual_transform=residual,
      residual_form=form,
    )

  fused, unfused = make(fira_jax.fira_residual(mode, gamma)), make(optax.chain(*parts))
  s_f, s_u = fused.init(params), unfused.init(params)
  tol = 1e-5 if dtype == jnp.float32 else 2e-2
  for t in range(5):  # spikes at t = 3 exercise the limiter
    g = jax.tree.map(lambda x, t=t: jnp.sin(x * (t + 1.0)) * (30.0 if t == 3 else 1.0), params)
    u_f, s_f = jax.jit(fused.update)(g, s_f)
    u_u, s_u = jax.jit(unfused.update)(g, s_u)
    chex.assert_trees_all_close(u_f, u_u, rtol=tol, atol=tol)
    chex.assert_trees_all_equal_structs(s_f, s_u)
    chex.assert_trees_all_close(s_f, s_u, rtol=tol, atol=tol)
