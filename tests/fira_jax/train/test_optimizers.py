"""The optimizer factory: projected leaves, schedule, memory, errors."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import fira_jax
from fira_jax import LimitNormGrowthState
from fira_jax.models import Llama, get_config
from fira_jax.train import (
  FlatModel,
  lr_schedule,
  make_optimizer,
  matrix_rate_mask,
  projected_dimension_numbers,
  scale_by_rates,
  state_bytes,
)
from fira_jax.train.step import limiter_metrics


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
    (dict(name="fira", projector="qr"), "--projector must be one of svd, eigh, rsvd"),
  ],
)
def test_factory_errors(params, kwargs, match):
  name = kwargs.pop("name")
  with pytest.raises(ValueError, match=match):
    make_optimizer(name, learning_rate=1e-3, params=params, **kwargs)


def test_schedule_errors():
  with pytest.raises(ValueError, match="warmup steps must be in"):
    lr_schedule(1e-3, 10, 10)


def _has_limiter(tx, params) -> bool:
  is_state = lambda x: isinstance(x, LimitNormGrowthState)  # noqa: E731
  return any(is_state(x) for x in jax.tree.leaves(tx.init(params), is_leaf=is_state))


def test_fira_and_ablations_come_from_fira_jax(params):
  fira = make_optimizer("fira", learning_rate=1e-2, params=params, rank=8)
  no_limit = make_optimizer("fira", learning_rate=1e-2, params=params, rank=8,
                            fira_options={"gamma": None})  # fmt: skip
  assert _has_limiter(fira, params) and not _has_limiter(no_limit, params)
  # Same projection as fira_jax.fira called directly with the projected-kernel pytree.
  direct = fira_jax.fira(
    1e-2, 8, alpha=0.25, weight_dimension_numbers=projected_dimension_numbers(params)
  )
  g = jax.tree.map(
    lambda p: jnp.cos(jnp.arange(p.size, dtype=jnp.float32)).reshape(p.shape), params
  )
  ours, _ = fira.update(g, fira.init(params), params)
  want, _ = direct.update(g, direct.init(params), params)
  chex.assert_trees_all_close(ours, want, rtol=1e-6)


def test_limiter_metrics_match_numpy():
  old = LimitNormGrowthState(jnp.int32(3), {"a": jnp.float32(2.0), "b": jnp.float32(1.0)})
  new = LimitNormGrowthState(jnp.int32(4), {"a": jnp.float32(2.02), "b": jnp.float32(0.5)})
  m = limiter_metrics((old,), (new,), gamma=1.01)
  np.testing.assert_allclose(m["residual_norm"], np.sqrt(2.02**2 + 0.25), rtol=1e-6)
  np.testing.assert_allclose(m["limited_frac"], 0.5)
  np.testing.assert_allclose(m["growth_max"], 1.01, rtol=1e-6)
  assert limiter_metrics((), (), gamma=1.01) == {}


def test_randomized_projector_is_used_when_asked(params):
  g = jax.tree.map(
    lambda p: jnp.sin(jnp.arange(p.size, dtype=jnp.float32)).reshape(p.shape), params
  )
  kw = dict(learning_rate=1e-2, params=params, rank=4)
  exact = make_optimizer("fira", **kw)
  rsvd = make_optimizer("fira", projector="rsvd", **kw)
  direct = fira_jax.fira(
    1e-2,
    4,
    alpha=0.25,
    weight_dimension_numbers=projected_dimension_numbers(params),
    projector_fn=fira_jax.randomized_svd_projector(),
  )
  ours, _ = rsvd.update(g, rsvd.init(params), params)
  want, _ = direct.update(g, direct.init(params), params)
  chex.assert_trees_all_close(ours, want, rtol=1e-6)
  exact_u, _ = exact.update(g, exact.init(params), params)
  name = next(n for n in params if n.endswith("q_proj/kernel"))
  assert not np.allclose(exact_u[name], ours[name])


@pytest.mark.parametrize("name", ["adamw", "fira"])
def test_rest_lr_scale_is_a_second_parameter_group(params, name):
  """``rest_lr_scale`` = the non-projected leaves in their own group at ``k · lr``: every leaf's
  update is independent of the others', so the reference is two runs, at lr and at k · lr,
  taking the projected leaves from the first and the rest from the second."""
  k, lr, wd = 3.0, 1e-2, 0.1
  rest = {n: d is None for n, d in projected_dimension_numbers(params).items()}
  assert any(rest.values()) and not all(rest.values())
  make = lambda lr, **kw: make_optimizer(  # noqa: E731
    name, learning_rate=lr, params=params, rank=4, weight_decay=wd, **kw
  )
  got, at_lr, at_k_lr = make(lr, rest_lr_scale=k), make(lr), make(k * lr)
  s_got, s_lr, s_k = got.init(params), at_lr.init(params), at_k_lr.init(params)
  for t in range(3):
    g = jax.tree.map(lambda p, t=t: jnp.sin(p * (t + 2.0)) + 0.01, params)
    u_got, s_got = got.update(g, s_got, params)
    u_lr, s_lr = at_lr.update(g, s_lr, params)
    u_k, s_k = at_k_lr.update(g, s_k, params)
    want = {n: u_k[n] if rest[n] else u_lr[n] for n in params}
    chex.assert_trees_all_close(u_got, want, rtol=1e-5, atol=1e-7)


def test_rest_lr_scale_is_checked(params):
  with pytest.raises(ValueError, match="rest_lr_scale"):
    make_optimizer("adamw", learning_rate=1e-3, params=params, rest_lr_scale=float("nan"))


@pytest.mark.parametrize("traced", [False, True])
def test_lora_adapters_train_at_lr_and_the_rest_at_rest_lr(traced):
  """Under LoRA the frozen kernels are not parameters: ``lr`` is the adapters' rate (before
  this, they fell in the ``rest_lr`` group and a LoRA rate sweep changed nothing)."""
  from fira_jax.models import apply_lora

  model = apply_lora(Llama(get_config("smoke"), rngs=nnx.Rngs(0)), 4, rngs=nnx.Rngs(1))
  params = FlatModel(model).params
  mask = matrix_rate_mask(params)
  assert {k for k, m in mask.items() if m} == {k for k in params if "/lora_" in k}
  lr, rest_lr = 1e-2, 3e-1
  if traced:
    tx = optax.chain(make_optimizer("lora", learning_rate=1.0, params=params),
                     scale_by_rates(lr, rest_lr, params))  # fmt: skip
  else:
    tx = make_optimizer("lora", learning_rate=lr, params=params, rest_lr_scale=rest_lr / lr)
  grads = jax.tree.map(jnp.ones_like, params)
  updates, _ = tx.update(grads, tx.init(params), params)
  for k, u in updates.items():  # Adam's first step is -rate · sign(g)
    np.testing.assert_allclose(u, -(lr if mask[k] else rest_lr), rtol=1e-4, err_msg=k)
