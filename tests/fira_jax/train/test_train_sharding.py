"""Sharding rules, and 8 simulated devices reproducing the 1-device training losses."""

import jax
import numpy as np
import pytest
from flax import nnx
from jax.sharding import PartitionSpec as P

from fira_jax.models import Llama, get_config
from fira_jax.train import (
  FlatModel,
  make_mesh,
  make_optimizer,
  make_train_step,
  shard_batch,
  spec_for_shape,
  tree_shardings,
)


def test_spec_for_shape():
  assert spec_for_shape((32, 64), 8) == P(None, "fsdp")
  assert spec_for_shape((64, 32), 8) == P("fsdp", None)
  assert spec_for_shape((257, 32), 8) == P(None, "fsdp")  # the vocab does not divide
  assert spec_for_shape((7,), 8) == P()
  assert spec_for_shape((), 8) == P()
  assert spec_for_shape((0, 0), 8) == P()
  assert spec_for_shape((64, 64), 1) == P()


def test_mesh_and_batch_errors():
  assert make_mesh(2).shape == {"data": 2, "fsdp": 4}
  with pytest.raises(ValueError, match="--mesh-data 3 must divide the 8 devices"):
    make_mesh(3)
  with pytest.raises(ValueError, match="--batch-size 6 must be divisible by the 8 devices"):
    shard_batch(np.zeros((6, 5), np.int32), make_mesh())


def _losses(mesh, optimizer, steps=4):
  flat = FlatModel(Llama(get_config("smoke"), rngs=nnx.Rngs(0)))
  p_sh = tree_shardings(flat.params, mesh)
  params = jax.device_put(flat.params, p_sh)
  tx = make_optimizer(optimizer, learning_rate=1e-2, params=params, rank=8, update_proj_gap=2)
  o_sh = tree_shardings(jax.eval_shape(tx.init, params), mesh)
  opt_state = jax.jit(tx.init, out_shardings=o_sh)(params)
  step = make_train_step(flat, tx, (p_sh, o_sh))
  rng = np.random.default_rng(0)
  out = []
  for _ in range(steps):
    batch = shard_batch(rng.integers(0, 256, (8, 17)).astype(np.int32), mesh)
    params, opt_state, metrics = step(params, opt_state, {}, batch)
    out.append(float(metrics["loss"]))
  kernel = params["layers/0/mlp/up_proj/kernel"]
  return np.array(out), kernel


@pytest.mark.parametrize("optimizer", ["adamw", "galore"])
def test_eight_devices_match_one_device(optimizer):
  assert jax.device_count() == 8
  one, _ = _losses(make_mesh(devices=jax.devices()[:1]), optimizer)
  eight, kernel = _losses(make_mesh(2), optimizer)
  np.testing.assert_allclose(eight, one, rtol=2e-5, atol=2e-5)
  assert kernel.sharding.spec == P(None, "fsdp")  # (32, 64): FSDP on the 64 axis
  assert len(kernel.sharding.device_set) == 8
