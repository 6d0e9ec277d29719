"""Meta-training: a short run lowers the loss; a resumed run equals an uninterrupted one."""

import jax
import numpy as np
import pytest
from flax import nnx

from hypernet import PudNetConfig, build_pudnet, load_mnist, make_pool, meta_loss_fn, meta_train

CFG = PudNetConfig(
  k=3, n_support=4, n_query=4, meta_batch=4, d=16, h=2, lr=3e-3, log_every=10, checkpoint_every=2
)


@pytest.fixture(scope="module")
def pool(dataset_dir):
  d = load_mnist(dataset_dir("mnist").parent)
  return make_pool(d.train, mean=d.mean, std=d.std, k=3)


def _eval_loss(model, pool):
  fn = nnx.jit(meta_loss_fn(3, 4, 4, 16))
  return float(np.mean([fn(model, pool, jax.random.key(100 + i))[0] for i in range(3)]))


def test_short_meta_training_lowers_the_loss(pool):
  before = _eval_loss(build_pudnet(CFG, 0), pool)
  res = meta_train(CFG, 0, pool, steps=40)
  after = _eval_loss(res.model, pool)
  assert after < before - 0.05, (before, after)
  assert [h["step"] for h in res.history] == [10, 20, 30, 40]


def test_resume_equals_uninterrupted(pool, tmp_path):
  full = meta_train(CFG, 1, pool, steps=4, out_dir=tmp_path / "full")
  meta_train(CFG, 1, pool, steps=2, out_dir=tmp_path / "cut")
  resumed = meta_train(CFG, 1, pool, steps=4, out_dir=tmp_path / "cut")
  assert resumed.start_step == 2
  a, b = nnx.state(full.model, nnx.Param), nnx.state(resumed.model, nnx.Param)
  jax.tree.map(np.testing.assert_array_equal, a, b)
  with pytest.raises(ValueError, match="another config or seed"):
    meta_train(CFG, 2, pool, steps=4, out_dir=tmp_path / "cut")


def test_param_regression_adds_a_loss(pool):
  model = build_pudnet(CFG, 0)
  plain = meta_loss_fn(3, 4, 4, 1)(model, pool, jax.random.key(0))
  reg_fn = meta_loss_fn(3, 4, 4, 1, aux_param_reg=1.0, aux_param_steps=2)
  reg = reg_fn(model, pool, jax.random.key(0))
  np.testing.assert_allclose(reg[1]["ce"], plain[1]["ce"], rtol=1e-5)
  assert float(reg[0]) > float(plain[0])
