"""fira/galore against the official implementations' recorded trajectories."""

import json
import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import fira_jax

NAMES = [
  "fira_tall_right",
  "fira_wide_left",
  "fira_square_alpha",
  "fira_wd_spikes",
  "galore_tall",
  "galore_wide",
  "adamw_dense",
]


def load(fixtures_dir, name):
  d = np.load(fixtures_dir / "fira" / f"{name}.npz")
  return json.loads(str(d["meta"])), d


def recorded_projector(projectors):
  """A projector_fn returning the official P in use after step t."""
  rec = jnp.asarray(projectors)

  def projector_fn(g, rank, step):
    p = rec[step]
    m, n = g.shape
    if m >= n:  # official std: right, P = Vh[:r] (r, n)
      return jnp.zeros((m, rank)), p.T
    return p, jnp.zeros((n, rank))  # left, P = U[:, :r] (m, r)

  return projector_fn


def make_tx(meta, projector_fn=None):
  kw = dict(
    update_proj_gap=max(meta["update_proj_gap"], 1),
    b1=meta["b1"],
    b2=meta["b2"],
    eps=meta["eps"],
    weight_decay=meta["weight_decay"],
    projector_fn=projector_fn,
  )
  if meta["optimizer"] == "fira":
    return fira_jax.fira(meta["lr"], meta["rank"], alpha=meta["alpha_or_scale"], **kw)
  if meta["optimizer"] == "galore":
    return fira_jax.galore(meta["lr"], meta["rank"], scale=meta["alpha_or_scale"], **kw)
  # The official un-projected path: FiraAdamW on a parameter without "rank" in its group.
  return fira_jax.fira(
    meta["lr"], 4, weight_dimension_numbers=lambda p: jax.tree.map(lambda _: None, p), **kw
  )


def run(tx, d, steps):
  p = jnp.asarray(d["initial_param"])
  state = tx.init(p)
  update = jax.jit(tx.update)
  out = []
  for t in range(steps):
    u, state = update(jnp.asarray(d["grads"][t]), state, p)
    p = optax.apply_updates(p, u)
    out.append(np.asarray(p))
  return np.stack(out), state


@pytest.mark.parametrize("name", NAMES)
def test_matches_official_trajectory_with_recorded_projectors(fixtures_dir, name):
  meta, d = load(fixtures_dir, name)
  proj = recorded_projector(d["projectors"]) if "projectors" in d.files else None
  params, state = run(make_tx(meta, proj), d, meta["steps"])
  np.testing.assert_allclose(params, d["params"], rtol=1e-4, atol=1e-5)
  # The low-rank moments equal the official ones too (std: right projection for m >= n).
  moments = state[0].base_optimizer_state
  np.testing.assert_allclose(moments.mu, d["exp_avg"][-1], rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(moments.nu, d["exp_avg_sq"][-1], rtol=1e-4, atol=1e-9)


def sign_consistent_horizon(meta, d):
  """Steps for which our SVD equals the official P up to one fixed sign per column."""
  gap, rank, steps = meta["update_proj_gap"], meta["rank"], meta["steps"]
  pattern = None
  for t in range(0, steps, gap):
    g = jnp.asarray(d["grads"][t])
    m, n = g.shape
    u, v = fira_jax.svd_projector(g, rank, t)
    ours = np.asarray(v.T if m >= n else u)
    dots = np.sum(ours * d["projectors"][t], axis=1 if m >= n else 0)
    np.testing.assert_allclose(np.abs(dots), 1.0, atol=1e-4)  # same subspace, column by column
    if pattern is None:
      pattern = np.sign(dots)
    elif not np.array_equal(pattern, np.sign(dots)):
      return t
  return steps


@pytest.mark.parametrize("name", [n for n in NAMES if n != "adamw_dense"])
def test_matches_official_trajectory_with_default_svd(fixtures_dir, name):
  meta, d = load(fixtures_dir, name)
  horizon = sign_consistent_horizon(meta, d)
  assert horizon >= meta["update_proj_gap"]  # the first refresh is always sign-invariant
  params, _ = run(make_tx(meta), d, horizon)
  np.testing.assert_allclose(params, d["params"][:horizon], rtol=1e-4, atol=1e-5)


def test_fira_moves_weights_in_full_rank_and_galore_does_not(fixtures_dir):
  meta, d = load(fixtures_dir, "fira_tall_right")
  proj = recorded_projector(d["projectors"])
  fira_params, _ = run(make_tx(meta, proj), d, 3)
  galore_meta = dict(meta, optimizer="galore")
  galore_params, _ = run(make_tx(galore_meta, proj), d, 3)
  delta = lambda p: np.linalg.svd(p[-1] - d["initial_param"], compute_uv=False)  # noqa: E731
  # Updates within one projector window: GaLore's change has rank <= r, Fira's is full rank.
  assert np.sum(delta(galore_params) > 1e-6) <= meta["rank"]
  assert np.sum(delta(fira_params) > 1e-6) == min(meta["shape"])


def test_reverse_std_with_optax_adam_equals_optax_contrib_galore():
  key = jax.random.PRNGKey(0)
  params = {
    "tall": jax.random.normal(key, (24, 10)),
    "wide": jax.random.normal(jax.random.fold_in(key, 1), (6, 20)),
    "bias": jnp.zeros((10,)),
    "attn": jax.random.normal(jax.random.fold_in(key, 2), (12, 2, 4)),
  }
  dims = {
    "tall": fira_jax.GaLoreDimensionNumbers(),
    "wide": fira_jax.GaLoreDimensionNumbers(),
    "bias": None,
    "attn": fira_jax.GaLoreDimensionNumbers(0, (1, 2)),
  }
  settings = dict(rank=3, update_proj_gap=3, weight_dimension_numbers=dims)
  ours = fira_jax.galore(
    1e-2,
    scale=0.5,
    proj_type="reverse_std",
    base_optimizer=optax.scale_by_adam(b1=0.8, b2=0.99),
    **settings,
  )
  ref = optax.contrib.galore(
    1e-2, scale=0.5, base_optimizer=optax.scale_by_adam(b1=0.8, b2=0.99), **settings
  )
  p_ours, p_ref = params, params
  s_ours, s_ref = ours.init(params), ref.init(params)
  for t in range(7):
    g = jax.tree.map(lambda x, t=t: jnp.sin(x * (t + 1.0)) + 0.1 * t * jnp.cos(3 * x), p_ref)
    u_ours, s_ours = ours.update(g, s_ours, p_ours)
    u_ref, s_ref = ref.update(g, s_ref, p_ref)
    p_ours, p_ref = optax.apply_updates(p_ours, u_ours), optax.apply_updates(p_ref, u_ref)
    chex.assert_trees_all_close(p_ours, p_ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
  "make, kwargs, match",
  [
    (fira_jax.fira, dict(learning_rate=float("nan")), "`learning_rate` must be >= 0 and finite"),
    (fira_jax.fira, dict(learning_rate=float("inf")), "`learning_rate` must be >= 0 and finite"),
    (fira_jax.fira, dict(learning_rate=0.01, eps=float("nan")), "`eps` must be >= 0"),
    (fira_jax.fira, dict(learning_rate=0.01, b2=1.0), "`b2` must be in [0, 1)"),
    (fira_jax.fira, dict(learning_rate=0.01, alpha=float("inf")), "`alpha` must be >= 0"),
    (fira_jax.fira, dict(learning_rate=0.01, gamma=0.5), "`gamma` must be >= 1"),
    (fira_jax.fira, dict(learning_rate=0.01, rank=0), "`rank` must be positive"),
    (fira_jax.galore, dict(learning_rate=0.01, scale=float("nan")), "`scale` must be >= 0"),
    (fira_jax.galore, dict(learning_rate=0.01, weight_decay=-1.0), "`weight_decay` must be >= 0"),
    (fira_jax.apollo, dict(learning_rate=float("nan")), "`learning_rate` must be >= 0"),
    (fira_jax.apollo_mini, dict(learning_rate=0.01, gamma=float("nan")), "`gamma` must be >= 1"),
    (fira_jax.apollo, dict(learning_rate=0.01, update_proj_gap=0), "`update_proj_gap` must be"),
  ],
)
def test_non_finite_or_out_of_range_hyper_parameters_are_rejected(make, kwargs, match):
  with pytest.raises(ValueError, match=re.escape(match)):
    make(**kwargs)


def test_schedules_and_arrays_are_not_checked_at_construction():
  fira_jax.fira(optax.constant_schedule(0.01), rank=4)
  fira_jax.galore(jnp.asarray(0.01), rank=4, scale=jnp.asarray(0.25))
