"""The optimizer factory: projected leaves, schedule, memory, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from fira_jax.models import Llama, get_config
from fira_jax.train import (
  FlatModel,
  lr_schedule,
  make_optimizer,
  projected_dimension_numbers,
  state_bytes,
)


@pytest.fixture(scope="module")
def params():
  return FlatModel(Llama(get_config("smoke"), rngs=nnx.Rngs(0))).params


def test_projected_leaves_are_exactly_attention_and_mlp_kernels(params):
  dims = projected_dimension_numbers(params)
  projected = sorted(k for k, v in dims.items() if v is not None)
  want = sorted(
    f"layers/{i}/{blk}/{n}_proj/kernel"
    for i in range(2)
    for blk, names in (("attn", "qkvo"), ("mlp", ("gate", "up", "down")))
    for n in names
  )
  assert projected == want
  for k in ("embed/embedding", "lm_head/kernel", "norm/scale", "layers/0/attn_norm/scale"):
    assert dims[k] is None
  assert dims[want[0]].reduction_axis == 0 and dims[want[0]].output_axis == 1


def test_schedule_matches_warmup_cosine_formula():
  lr, steps, warm = 0.01, 100, 10
  sched = lr_schedule(lr, steps, warm, 0.1)
  for t in (0, 5, 10, 40, 99, 100):
    if t < warm:
      want = lr * t / warm
    else:
      frac = (t - warm) / (steps - warm)
      want = lr * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * frac)))
    np.testing.assert_allclose(float(sched(t)), want, rtol=1e-5, atol=1e-9)


def test_adamw_first_step_matches_numpy(params):
  tx = make_optimizer("adamw", learning_rate=0.1, params=params, eps=1e-6)
  g = jax.tree.map(lambda p: jnp.full_like(p, 0.5), params)
  updates, _ = tx.update(g, tx.init(params), params)
  # First Adam step: m̂ = g, v̂ = g², so the update is -lr · g / (|g| + eps).
  np.testing.assert_allclose(updates["norm/scale"], -0.1 * 0.5 / (0.5 + 1e-6), rtol=1e-4)


def test_low_rank_state_is_smaller_than_adamw():
  big = FlatModel(nnx.eval_shape(lambda: Llama(get_config("llama_tiny"), rngs=nnx.Rngs(0))))
  shapes = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), big.params)
  adam = state_bytes(
    jax.eval_shape(make_optimizer("adamw", learning_rate=1e-3, params=shapes).init, shapes)
  )
  low = make_optimizer("galore", learning_rate=1e-2, params=shapes, rank=32)
  low_bytes = state_bytes(jax.eval_shape(low.init, shapes))
  n_params = sum(x.size for x in jax.tree.leaves(shapes))
  assert adam >= 2 * 4 * n_params
  assert low_bytes < 0.8 * adam


def test_clip_is_applied(params):
  tx = make_optimizer("adamw", learning_rate=1.0, params=params, clip=1e-3)
  assert isinstance(tx.init(params), tuple) and len(tx.init(params)) == 2
  assert isinstance(tx.init(params)[0], optax.EmptyState)


@pytest.mark.parametrize(
  "kwargs, match",
  [
    (dict(name="sgd"), "--optimizer must be one of adamw, galore, fira, lora"),
    (dict(name="galore", rank=0), "--rank must be a positive int"),
    (dict(name="galore", update_proj_gap=0), "--update-proj-gap must be a positive int"),
  ],
)
def test_factory_errors(params, kwargs, match):
  name = kwargs.pop("name")
  with pytest.raises(ValueError, match=match):
    make_optimizer(name, learning_rate=1e-3, params=params, **kwargs)


def test_schedule_errors():
  with pytest.raises(ValueError, match="warmup steps must be in"):
    lr_schedule(1e-3, 10, 10)
