"""fira and galore inside optax wrappers: inject_hyperparams, schedules, MultiSteps, ..."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import fira_jax

PARAMS = {"w": jnp.linspace(-1.0, 1.0, 48).reshape(12, 4), "b": jnp.linspace(0.0, 1.0, 4)}


def grads(t):
  return jax.tree.map(lambda x: jnp.sin(3.0 * x * (t + 1)) + 0.05 * t, PARAMS)


def run(tx, steps=5, grad_fn=grads):
  p, state = PARAMS, tx.init(PARAMS)
  update = jax.jit(tx.update)
  for t in range(steps):
    u, state = update(grad_fn(t), state, p)
    p = optax.apply_updates(p, u)
  return p, state


@pytest.mark.parametrize("factory", [fira_jax.fira, fira_jax.galore])
def test_inject_hyperparams_gives_the_same_result(factory):
  kw = dict(rank=2, update_proj_gap=2, weight_decay=0.1)
  direct, _ = run(factory(1e-2, **kw))
  tx = optax.inject_hyperparams(factory, static_args=("rank",))(learning_rate=1e-2, **kw)
  injected, state = run(tx)
  chex.assert_trees_all_close(injected, direct, rtol=1e-5, atol=1e-6)
  assert float(state.hyperparams["learning_rate"]) == pytest.approx(1e-2)


def test_learning_rate_schedule():
  schedule = optax.linear_schedule(1e-2, 1e-3, 5)
  scheduled, _ = run(fira_jax.fira(schedule, 2, update_proj_gap=2))
  # Without weight decay an update is linear in the learning rate: replay the schedule by hand.
  tx = fira_jax.fira(1.0, 2, update_proj_gap=2)
  p, state = PARAMS, tx.init(PARAMS)
  for t in range(5):
    u, state = tx.update(grads(t), state, p)
    p = optax.apply_updates(p, jax.tree.map(lambda x, t=t: x * schedule(t), u))
  chex.assert_trees_all_close(scheduled, p, rtol=1e-5, atol=1e-6)


def test_multi_steps_averages_gradients():
  tx = optax.MultiSteps(fira_jax.fira(1e-2, 2, update_proj_gap=1), every_k_schedule=2)
  accumulated, _ = run(tx, steps=4)
  mean = lambda a, b: jax.tree.map(lambda x, y: (x + y) / 2, grads(a), grads(b))  # noqa: E731
  reference, _ = run(fira_jax.fira(1e-2, 2, update_proj_gap=1), 2, lambda t: mean(2 * t, 2 * t + 1))
  chex.assert_trees_all_close(accumulated, reference, rtol=1e-5, atol=1e-6)


def test_apply_if_finite_skips_nan_gradients():
  def with_nan(t):
    g = grads(t if t < 2 else t - 1)
    return jax.tree.map(lambda x: x * jnp.nan, g) if t == 2 else g

  tx = optax.apply_if_finite(fira_jax.fira(1e-2, 2, update_proj_gap=2), max_consecutive_errors=3)
  skipped, state = run(tx, steps=5, grad_fn=with_nan)
  clean, _ = run(fira_jax.fira(1e-2, 2, update_proj_gap=2), steps=4)
  chex.assert_trees_all_close(skipped, clean, rtol=1e-6, atol=1e-7)
  assert int(state.total_notfinite) == 1


def test_chains_with_clipping_and_bfloat16_params_keep_dtype():
  params = jax.tree.map(lambda x: x.astype(jnp.bfloat16), PARAMS)
  tx = optax.chain(optax.clip_by_global_norm(1.0), fira_jax.fira(1e-2, 2))
  state = tx.init(params)
  g = jax.tree.map(lambda x: x.astype(jnp.bfloat16), grads(0))
  u, state = jax.jit(tx.update)(g, state, params)
  chex.assert_trees_all_equal_dtypes(u, params)
  assert state[1][0].projector["w"].dtype == jnp.bfloat16
  assert np.all(np.isfinite(np.asarray(u["w"], np.float32)))
