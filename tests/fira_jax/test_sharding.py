"""Sharded parameters over 8 simulated CPU devices give the single-device result."""

import chex
import jax
import jax.numpy as jnp
import optax
import pytest
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

import fira_jax

pytestmark = pytest.mark.skipif(
  jax.device_count() < 8, reason="needs XLA_FLAGS=--xla_force_host_platform_device_count=8"
)


def params_and_specs():
  key = jax.random.PRNGKey(0)
  params = {
    "tall": jax.random.normal(key, (64, 32)),
    "wide": jax.random.normal(jax.random.fold_in(key, 1), (16, 48)),
    "attn": jax.random.normal(jax.random.fold_in(key, 2), (32, 4, 8)),
    "bias": jax.random.normal(jax.random.fold_in(key, 3), (32,)),
  }
  specs = {
    "tall": P("fsdp", None),
    "wide": P(None, "fsdp"),
    "attn": P("data", "fsdp", None),
    "bias": P(),
  }
  return params, specs


@pytest.mark.parametrize("proj_type, axis_type", [("std", "explicit"), ("reverse_std", "auto")])
def test_sharded_update_equals_single_device_and_sharding_is_stable(proj_type, axis_type):
  kind = AxisType.Explicit if axis_type == "explicit" else AxisType.Auto
  mesh = jax.make_mesh((2, 4), ("data", "fsdp"), axis_types=(kind, kind))
  params, specs = params_and_specs()
  dims = {
    "tall": fira_jax.GaLoreDimensionNumbers(),
    "wide": fira_jax.GaLoreDimensionNumbers(),
    "attn": fira_jax.GaLoreDimensionNumbers(0, (1, 2)),
    "bias": None,
  }
  tx = fira_jax.fira(
    1e-2,
    4,
    update_proj_gap=2,
    weight_decay=0.1,
    weight_dimension_numbers=dims,
    proj_type=proj_type,
  )
  grads = lambda p, t: jax.tree.map(lambda x: jnp.tanh(x * (t + 1.0)), p)  # noqa: E731

  def train(p, steps):
    state = jax.jit(tx.init)(p)
    update = jax.jit(tx.update)
    shardings = []
    for t in range(steps):
      u, state = update(grads(p, t), state, p)
      p = optax.apply_updates(p, u)
      shardings.append(jax.tree.map(lambda x: x.sharding, state))
    return p, state, shardings, u

  single, single_state, _, _ = train(params, 5)
  sharded_params = jax.tree.map(
    lambda x, s: jax.device_put(x, NamedSharding(mesh, s)), params, specs
  )
  with jax.set_mesh(mesh):
    sharded, sharded_state, shardings, last_update = train(sharded_params, 5)
  chex.assert_trees_all_close(sharded, single, rtol=1e-4, atol=1e-5)
  chex.assert_trees_all_close(sharded_state, single_state, rtol=1e-4, atol=1e-5)
  # Updates come back sharded like the parameters, and the state keeps its sharding on
  # refresh (t = 2, 4) and non-refresh steps alike.
  for name, spec in specs.items():
    assert last_update[name].sharding.is_equivalent_to(
      NamedSharding(mesh, spec), last_update[name].ndim
    )
  for later in shardings[1:]:
    jax.tree.map(
      lambda a, b: a.is_equivalent_to(b, 2) or pytest.fail(f"sharding changed: {a} -> {b}"),
      shardings[0],
      later,
    )
