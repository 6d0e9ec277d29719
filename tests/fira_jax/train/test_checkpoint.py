"""Checkpointer: exact round trip, resharding 8 → 4 devices, zero-size leaves, identity check."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fira_jax.train import Checkpointer, make_mesh, tree_shardings
from fira_jax.train.checkpoint import check_identity


def _state():
  return {
    "params": {"w": jnp.arange(64.0 * 16).reshape(64, 16), "n": jnp.ones((7,))},
    "opt_state": (jnp.int32(5), jnp.zeros((0, 0)), {"mu": jnp.full((64, 16), 0.5)}),
  }


def test_save_on_eight_devices_restore_on_four(tmp_path):
  state = _state()
  mesh8 = make_mesh(2)
  saved = jax.device_put(state, tree_shardings(state, mesh8))
  ckpt = Checkpointer(tmp_path)
  ckpt.save(3, saved, {"step": 3, "data": {"epoch": 1, "index": 2}})
  ckpt.wait()
  mesh4 = make_mesh(1, 4, devices=jax.devices()[:4])
  like = jax.device_put(jax.tree.map(jnp.zeros_like, state), tree_shardings(state, mesh4))
  restored = Checkpointer(tmp_path).restore_state(3, like)
  for got, want in zip(jax.tree.leaves(restored), jax.tree.leaves(state), strict=True):
    np.testing.assert_array_equal(got, want)
  assert restored["params"]["w"].sharding.mesh.size == 4
  assert len(restored["params"]["w"].sharding.device_set) == 4
  assert restored["opt_state"][1].shape == (0, 0)  # zero-size placeholder survives
  assert Checkpointer(tmp_path).restore_meta(3)["data"] == {"epoch": 1, "index": 2}
  assert Checkpointer(tmp_path).latest_step() == 3
  ckpt.close()


def test_check_identity_names_the_field(tmp_path):
  check_identity({"rank": 8, "optimizer": "fira"}, {"rank": 8, "optimizer": "fira"}, tmp_path)
  with pytest.raises(ValueError, match="another config: rank=8, this run has 4"):
    check_identity({"rank": 8}, {"rank": 4}, tmp_path)
