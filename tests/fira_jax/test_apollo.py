"""APOLLO / APOLLO-Mini against the official apollo-torch trajectories, and their properties."""

import doctest
import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import fira_jax
from fira_jax._src import apollo as apollo_module
from fira_jax.models import CONFIGS, Llama
from fira_jax.train import FlatModel, projected_dimension_numbers


def fixture_names(fixtures_dir):
  return [e["name"] for e in json.loads((fixtures_dir / "apollo" / "index.json").read_text())]


NAMES = ["apollo_tall", "apollo_wide", "apollo_square_wd", "apollo_mini_tall", "apollo_mini_wide"]


def load(fixtures_dir, name):
  d = np.load(fixtures_dir / "apollo" / f"{name}.npz")
  return json.loads(str(d["meta"])), d


def recorded_projector(projections):
  """The official P in use after step t, as ``(u, v) = (P, P^T)``: a right projection (P is
  ``(r, n)``, R = G P^T) takes ``v``, a left one (P is ``(m, r)``, R = P^T G) takes ``u``."""
  rec = jnp.asarray(projections)
  return lambda g, rank, step: (rec[step], rec[step].T)


def make_tx(meta, projector_fn):
  return fira_jax.apollo(
    meta["lr"],
    meta["rank"],
    update_proj_gap=meta["update_proj_gap"],
    scale=meta["scale"],
    scale_type=meta["scale_type"],
    b1=meta["b1"],
    b2=meta["b2"],
    eps=meta["eps"],
    weight_decay=meta["weight_decay"],
    scale_front=meta["scale_front"],
    gamma=None if meta["disable_nl"] else 1.01,
    projector_fn=projector_fn,
  )


def test_every_fixture_is_covered(fixtures_dir):
  assert sorted(fixture_names(fixtures_dir)) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_matches_official_trajectory_with_recorded_projections(fixtures_dir, name):
  meta, d = load(fixtures_dir, name)
  tx = make_tx(meta, recorded_projector(d["projections"]))
  p = jnp.asarray(d["initial_param"])
  state = tx.init(p)
  update = jax.jit(tx.update)
  for t in range(meta["steps"]):
    u, state = update(jnp.asarray(d["grads"][t]), state, p)
    p = optax.apply_updates(p, u)
    inner = state[0]
    np.testing.assert_allclose(p, d["params"][t], rtol=1e-4, atol=1e-5, err_msg=f"step {t}")
    right = meta["shape"][0] >= meta["shape"][1]  # state: P^T (n, r) right, P (m, r) left
    want = d["projections"][t].T if right else d["projections"][t]
    np.testing.assert_array_equal(inner.projector, want)
    moments = inner.base_optimizer_state
    np.testing.assert_allclose(moments.mu, d["exp_avg"][t], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(moments.nu, d["exp_avg_sq"][t], rtol=1e-4, atol=1e-9)
    limiter = inner.scaling_state[1]
    np.testing.assert_allclose(limiter.last_norm, d["limiter_norm"][t], rtol=1e-5)


def test_apollo_mini_is_rank_one_tensor_scaling_with_scale_128():
  p = {"w": jnp.linspace(-1.0, 1.0, 96).reshape(12, 8), "b": jnp.ones((8,))}
  g = jax.tree.map(lambda x: jnp.cos(3.0 * x), p)
  mini = fira_jax.apollo_mini(1e-2, update_proj_gap=3, seed=5)
  same = fira_jax.apollo(1e-2, 1, update_proj_gap=3, seed=5, scale=128.0, scale_type="tensor")
  state = mini.init(p)
  assert state[0].base_optimizer_state.mu["w"].shape == (12, 1)
  chex.assert_trees_all_close(mini.update(g, state, p)[0], same.update(g, same.init(p), p)[0])
  inject = optax.inject_hyperparams(fira_jax.apollo_mini, static_args=("seed",))(
    learning_rate=1e-2, update_proj_gap=3, seed=5
  )
  chex.assert_trees_all_close(
    inject.update(g, inject.init(p), p)[0], same.update(g, same.init(p), p)[0], rtol=2e-5
  )


def test_tensor_scaling_without_limiter_moves_along_the_raw_gradient():
  """APOLLO-Mini rescales the whole gradient by one factor: the update is parallel to G."""
  key = jax.random.key(0)
  p = jax.random.normal(key, (16, 6))
  g = jax.random.normal(jax.random.fold_in(key, 1), (16, 6))
  tx = fira_jax.apollo_mini(1e-2, gamma=None)
  u, _ = tx.update(g, tx.init(p), p)
  ratio = np.asarray(u / g)
  np.testing.assert_allclose(ratio, ratio.flat[0], rtol=1e-5)
  assert ratio.flat[0] < 0


def test_channel_scaling_gives_one_factor_per_row_of_a_tall_matrix():
  key = jax.random.key(1)
  g = jax.random.normal(key, (10, 4))
  tx = fira_jax.apollo(1.0, 2, gamma=None)
  u, _ = tx.update(g, tx.init(g), g)
  ratio = np.asarray(u / g)
  np.testing.assert_allclose(ratio, ratio[:, :1] * np.ones((1, 4)), rtol=1e-5)
  assert len(np.unique(np.round(ratio[:, 0], 5))) > 1


def test_gaussian_projection_is_seeded_per_leaf_and_refreshed_every_gap():
  p = {"a": jnp.ones((256, 128)), "b": jnp.ones((256, 128)), "wide": jnp.ones((64, 200))}
  g = jax.tree.map(jnp.ones_like, p)

  def projections(seed, steps):
    tx = fira_jax.apollo(1e-3, 16, update_proj_gap=3, seed=seed)
    state, update, out = tx.init(p), jax.jit(tx.update), []
    for _ in range(steps):
      _, state = update(g, state, p)
      out.append(state[0].projector)
    return out

  run = projections(0, 4)
  again = projections(0, 4)
  other = projections(1, 1)
  assert run[0]["a"].shape == (128, 16) and run[0]["wide"].shape == (64, 16)
  # N(0, 1/r) entries: mean 0, variance 1/16.
  z = np.asarray(run[0]["a"]) * 4.0
  assert abs(z.mean()) < 0.05 and abs(z.std() - 1.0) < 0.05
  chex.assert_trees_all_equal(run, again)  # a function of (seed, leaf, step)
  np.testing.assert_array_equal(run[0]["a"], run[2]["a"])  # kept between refreshes
  assert not np.allclose(run[2]["a"], run[3]["a"])  # redrawn at t = 3
  assert not np.allclose(run[0]["a"], run[0]["b"])  # two leaves of one shape differ
  assert not np.allclose(run[0]["a"], other[0]["a"])  # another seed differs


def test_transposed_layouts_give_the_transposed_update():
  key = jax.random.key(2)
  w = jax.random.normal(key, (20, 8))
  tx = fira_jax.apollo(1e-2, 4, update_proj_gap=2)
  s_a, s_b = tx.init(w), tx.init(w.T)
  p_a, p_b = w, w.T
  for t in range(5):
    g = jnp.sin(w * (t + 1.0))
    u_a, s_a = tx.update(g, s_a, p_a)
    u_b, s_b = tx.update(g.T, s_b, p_b)
    p_a, p_b = optax.apply_updates(p_a, u_a), optax.apply_updates(p_b, u_b)
    np.testing.assert_allclose(p_a, p_b.T, rtol=1e-5, atol=1e-7)


def test_scale_front_only_moves_the_limiters_epsilon():
  p = jax.random.normal(jax.random.key(3), (12, 6))
  outs = []
  for front in (False, True):
    tx = fira_jax.apollo(1e-2, 2, scale=4.0, scale_front=front)
    state = tx.init(p)
    for t in range(4):
      u, state = tx.update(jnp.cos(p * (t + 1.0)) * (1 + 3 * t), state, p)
    outs.append(u)
  np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5)


def test_refresh_inside_jit_without_recompiling():
  refreshes, traces = [], []

  def projector_fn(g, rank, step):
    jax.debug.callback(lambda s: refreshes.append(int(s)), step)
    return jnp.zeros((g.shape[0], rank)), jnp.eye(g.shape[1], rank)

  tx = fira_jax.apollo(1e-2, 2, update_proj_gap=3, projector_fn=projector_fn)
  p = {"w": jnp.ones((6, 4)), "b": jnp.ones((4,))}

  def step(g, state, p):
    traces.append(1)
    return tx.update(g, state, p)

  step, state = jax.jit(step), tx.init(p)
  for t in range(7):
    _, state = step(jax.tree.map(lambda x, t=t: jnp.cos(x * (t + 1.0)), p), state, p)
  jax.effects_barrier()
  assert refreshes == [0, 3, 6] and len(traces) == 1


def test_bfloat16_parameters_keep_their_dtype():
  p = {"w": jnp.ones((32, 16), jnp.bfloat16), "b": jnp.ones((16,), jnp.bfloat16)}
  tx = fira_jax.apollo(1e-2, 4)
  state = tx.init(p)
  u, state = jax.jit(tx.update)(jax.tree.map(lambda x: 0.1 * x, p), state, p)
  assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(u))
  assert state[0].projector["w"].dtype == jnp.bfloat16


def test_inject_hyperparams_gives_the_same_update():
  p = jax.random.normal(jax.random.key(4), (10, 6))
  g = jnp.sin(p)
  plain = fira_jax.apollo(3e-2, 2, scale=2.0, weight_decay=0.1)
  inject = optax.inject_hyperparams(fira_jax.apollo, static_args=("rank", "seed"))(
    learning_rate=3e-2, rank=2, scale=2.0, weight_decay=0.1
  )
  # Injected b2 is a float32 array: 1 - b2 rounds to 1.3e-5 relative, √ of that to 6.4e-6.
  chex.assert_trees_all_close(
    plain.update(g, plain.init(p), p)[0], inject.update(g, inject.init(p), p)[0], rtol=2e-5
  )


def test_converges_on_a_quadratic():
  target = jax.random.normal(jax.random.key(5), (16, 8))
  loss = lambda w: jnp.sum((w - target) ** 2)  # noqa: E731
  for tx in (fira_jax.apollo(5e-2, 4, update_proj_gap=10), fira_jax.apollo_mini(5e-2)):
    w = jnp.zeros_like(target)
    state = tx.init(w)

    @jax.jit
    def step(w, state, tx=tx):
      u, state = tx.update(jax.grad(loss)(w), state, w)
      return optax.apply_updates(w, u), state

    for _ in range(300):
      w, state = step(w, state)
    assert loss(w) < 0.05 * loss(jnp.zeros_like(target))


def llama_param_shapes(config, dtype):
  """Flat abstract parameters of a paper LLaMA (no memory allocated)."""
  from flax import nnx

  abstract = nnx.eval_shape(lambda: Llama(CONFIGS[config], rngs=nnx.Rngs(0)))
  return {k: jax.ShapeDtypeStruct(x.shape, dtype) for k, x in FlatModel(abstract).params.items()}


def analytic_bytes(config, rank, itemsize, limiter=True):
  """Per projected m x n matrix with m >= n (right projection): projection r*n, moments 2*m*r,
  one float32 limiter scalar; every other leaf 2*size; plus the int32 step counters of the
  chain's pieces (projection, limiter, bias correction, weight decay)."""
  c = CONFIGS[config]
  d, f, layers = c.d_model, c.ffn_dim, c.num_layers
  total = 0
  for m, n in ([(d, d)] * 4 + [(d, f), (d, f), (f, d)]) * layers:
    big, small, r = max(m, n), min(m, n), min(rank, m, n)
    total += (r * small + 2 * big * r) * itemsize + (4 if limiter else 0)
  dense = 2 * c.vocab_size * d + layers * 2 * d + d
  return total + 2 * dense * itemsize + 4 * (4 if limiter else 3)


@pytest.mark.parametrize("config, rank", [("llama_60m", 128), ("llama_1b", 512), ("llama_7b", 256)])
@pytest.mark.parametrize("mini", [False, True])
def test_state_bytes_equal_the_analytic_formula(config, rank, mini):
  params = llama_param_shapes(config, dtype=jnp.bfloat16)
  dims = projected_dimension_numbers(params)
  if mini:
    tx, rank = fira_jax.apollo_mini(1e-2, weight_dimension_numbers=dims), 1
  else:
    tx = fira_jax.apollo(1e-2, rank, weight_dimension_numbers=dims)
  assert fira_jax.optimizer_state_bytes(tx, params) == analytic_bytes(config, rank, 2)
  no_limiter = fira_jax.apollo(1e-2, rank, gamma=None, weight_dimension_numbers=dims)
  assert fira_jax.optimizer_state_bytes(no_limiter, params) == analytic_bytes(
    config, rank, 2, limiter=False
  )


@pytest.mark.parametrize(
  "kwargs, match",
  [
    (dict(rank=0), "`rank` must be positive"),
    (dict(rank=2.5), "`rank` must be an int"),
    (dict(update_proj_gap=0), "`update_proj_gap` must be a positive integer"),
    (dict(scale=0.0), "`scale` must be positive"),
    (dict(scale_type="row"), "`scale_type` must be one of"),
    (dict(proj_type="full"), "`proj_type` must be one of"),
    (dict(gamma=0.5), "`gamma` must be >= 1"),
    (dict(seed=1.5), "`seed` must be an int"),
    (dict(b1=1.0), "`b1` must be in"),
    (dict(learning_rate=-1.0), "`learning_rate` must be >= 0"),
  ],
)
def test_bad_arguments_raise_clear_errors(kwargs, match):
  args = dict(learning_rate=1e-2, rank=4) | kwargs
  with pytest.raises((ValueError, TypeError), match=match):
    fira_jax.apollo(**args)


def test_docstring_examples():
  result = doctest.testmod(apollo_module, optionflags=doctest.ELLIPSIS)
  assert result.failed == 0 and result.attempted > 0
