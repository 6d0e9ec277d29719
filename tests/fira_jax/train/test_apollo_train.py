"""``fira-jax train --optimizer apollo|apollo_mini``: the factory and a smoke run."""

import chex
import jax
import jax.numpy as jnp
import optax
import pytest
from flax import nnx

import fira_jax
from fira_jax.models import Llama, get_config
from fira_jax.train import FlatModel, make_optimizer, projected_dimension_numbers, read_metrics


@pytest.fixture(scope="module")
def params():
  return FlatModel(Llama(get_config("smoke"), rngs=nnx.Rngs(0))).params


@pytest.mark.parametrize("name", ["apollo", "apollo_mini"])
def test_factory_builds_apollo_on_the_projected_kernels(params, name):
  tx = make_optimizer(name, learning_rate=1e-2, params=params, rank=4, projector="eigh")
  dims = projected_dimension_numbers(params)
  if name == "apollo":
    direct = fira_jax.apollo(1e-2, 4, weight_dimension_numbers=dims)
  else:
    direct = fira_jax.apollo_mini(1e-2, weight_dimension_numbers=dims)
  g = jax.tree.map(
    lambda p: jnp.cos(jnp.arange(p.size, dtype=jnp.float32)).reshape(p.shape), params
  )
  ours, state = jax.jit(tx.update)(g, tx.init(params), params)
  want, _ = jax.jit(direct.update)(g, direct.init(params), params)
  chex.assert_trees_all_close(ours, want, rtol=1e-6)
  projected = [k for k, d in dims.items() if d is not None]
  rank = 4 if name == "apollo" else 1
  assert all(state[0].projector[k].shape[1] == rank for k in projected)
  assert isinstance(state[0].projector["embed/embedding"], optax.MaskedNode)


@pytest.mark.parametrize("name", ["apollo", "apollo_mini"])
def test_cli_trains_a_few_steps(cli, shakespeare, tmp_path, name):
  out = tmp_path / name
  args = ["train", "--data", shakespeare, "--out", str(out), "--model", "smoke"]
  args += ["--batch-size", "8", "--seq-len", "16", "--tokenizer", "byte", "--no-progress"]
  args += ["--optimizer", name, "--rank", "4", "--update-proj-gap", "2", "--lr", "0.01"]
  args += ["--steps", "4", "--eval-every", "4", "--log-every", "1"]
  assert cli(args) == 0
  records = read_metrics(out)
  assert [r["step"] for r in records] == [1, 2, 3, 4]
  assert all(jnp.isfinite(r["loss"]) for r in records)
  assert "residual_norm" in records[-1]  # the growth limiter's state is reported
