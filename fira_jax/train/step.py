"""Flat parameter dicts around an NNX model, and the jitted train/eval steps.

The loop keeps the model as flat ``{name: array}`` dicts (trainable ``params`` and
``frozen`` LoRA weights), which optax, orbax and the sharding rules all treat as plain
pytrees; :class:`FlatModel` turns them back into the NNX module inside ``jit``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from fira_jax._src.diagnostics import fira_statistics
from fira_jax._src.residual import LimitNormGrowthState
from fira_jax.models.lora import FrozenWeight


def _name(path) -> str:
  name = jax.tree_util.keystr(path, simple=True, separator="/")
  return name.removesuffix("/value")


class FlatModel:
  """Splits an NNX model into flat trainable/frozen dicts and merges them back.

  Trainable = ``nnx.Param`` (this includes LoRA's A and B); frozen = :class:`FrozenWeight`.
  """

  def __init__(self, model: nnx.Module):
    self.graphdef, params, frozen, self.rest = nnx.split(model, nnx.Param, FrozenWeight, ...)
    self._params_def, self.param_names, self.params = self._flatten(params)
    self._frozen_def, self.frozen_names, self.frozen = self._flatten(frozen)

  @staticmethod
  def _flatten(state):
    leaves, treedef = jax.tree_util.tree_flatten_with_path(state)
    names = [_name(p) for p, _ in leaves]
    return treedef, names, {n: x for n, (_, x) in zip(names, leaves, strict=True)}

  def merge(self, params: dict, frozen: dict) -> nnx.Module:
    p = jax.tree.unflatten(self._params_def, [params[n] for n in self.param_names])
    f = jax.tree.unflatten(self._frozen_def, [frozen[n] for n in self.frozen_names])
    return nnx.merge(self.graphdef, p, f, self.rest)


def lm_loss(logits_BxTxV: jax.Array, targets_BxT: jax.Array) -> jax.Array:
  r"""Mean next-token cross entropy :math:`-\frac{1}{BT}\sum \log p(y_{bt} \mid x_{b,\le t})`."""
  return optax.softmax_cross_entropy_with_integer_labels(logits_BxTxV, targets_BxT).mean()


def _limiter_states(opt_state) -> list[LimitNormGrowthState]:
  is_state = lambda x: isinstance(x, LimitNormGrowthState)  # noqa: E731
  return [x for x in jax.tree.leaves(opt_state, is_leaf=is_state) if is_state(x)]


def limiter_metrics(old_state, new_state, gamma: float) -> dict[str, jax.Array]:
  r"""What Fira's norm-growth limiter did in one step (empty for other optimizers).

  ``residual_norm`` is :math:`\sqrt{\sum_\ell \lVert S_t^\ell \rVert^2}` over the projected
  leaves after limiting; ``limited_frac`` the fraction of those leaves whose residual norm grew
  by the full factor γ (the limiter cut them); ``growth_max`` the largest per-leaf growth
  :math:`\lVert S_t \rVert / \lVert S_{t-1} \rVert`.
  """
  old, new = _limiter_states(old_state), _limiter_states(new_state)
  if not new:
    return {}
  before = jnp.stack([x for s in old for x in jax.tree.leaves(s.last_norm)])
  after = jnp.stack([x for s in new for x in jax.tree.leaves(s.last_norm)])
  growth = jnp.where(before > 0, after / jnp.maximum(before, 1e-30), 1.0)
  return {
    "residual_norm": jnp.sqrt(jnp.sum(after**2)),
    "limited_frac": jnp.mean((growth >= gamma * (1 - 1e-5)).astype(jnp.float32)),
    "growth_max": jnp.max(growth),
  }


def all_finite(tree) -> jax.Array:
  """True when every element of every leaf of ``tree`` is finite (a scalar bool array)."""
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def keep_if(ok: jax.Array, new, old):
  """``new`` where the scalar ``ok`` is True, else ``old`` (leaf by leaf, inside ``jit``)."""
  return jax.tree.map(lambda n, o: jnp.where(ok, n, o), new, old)


def make_train_step(
  flat: FlatModel,
  tx: optax.GradientTransformation,
  shardings=None,
  *,
  gamma: float = 1.01,
  skip_nonfinite: bool = True,
  _nan_loss: bool = False,
):
  """Returns ``step(params, opt_state, frozen, batch) -> (params, opt_state, metrics)``.

  ``batch`` is (B, S + 1) tokens; ``params`` and ``opt_state`` are donated. ``shardings`` =
  (params shardings, opt-state shardings) pins the outputs to the same layout as the inputs.
  Metrics: ``loss``, ``grad_norm`` (global L2 norm of the gradient, before clipping),
  ``skipped`` (True when the loss or a gradient was not finite: with ``skip_nonfinite`` the
  parameters and the optimizer state, its step count included, are then left unchanged) and,
  for Fira, :func:`limiter_metrics` with the limiter's ``gamma``.
  """

  def step(params, opt_state, frozen, batch_BxS1):
    def loss_fn(p):
      model = flat.merge(p, frozen)
      loss = lm_loss(model(batch_BxS1[:, :-1]), batch_BxS1[:, 1:])
      return loss * jnp.nan if _nan_loss else loss  # fault injection of the tests

    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, new_state = tx.update(grads, opt_state, params)
    new_params = optax.apply_updates(params, updates)
    ok = jnp.isfinite(loss) & all_finite(grads)
    if skip_nonfinite:
      new_params, new_state = keep_if(ok, (new_params, new_state), (params, opt_state))
    metrics = {"loss": loss, "grad_norm": optax.tree.norm(grads), "skipped": ~ok}
    metrics.update(limiter_metrics(opt_state, new_state, gamma))
    return new_params, new_state, metrics

  out = None if shardings is None else (shardings[0], shardings[1], None)
  return jax.jit(step, donate_argnums=(0, 1), out_shardings=out)


def make_fira_stats_step(flat: FlatModel, tx: optax.GradientTransformation, clip: float = 0.0,
                         **fira_kwargs):  # fmt: skip
  """Returns a jitted ``stats(params, opt_state, frozen, batch)``: the gradient of ``batch``,
  the optimizer step it causes (not applied) and :func:`fira_jax.fira_statistics` of it.

  ``clip`` is the run's global-norm clipping (the Fira transform sees clipped gradients);
  ``fira_kwargs`` go to :func:`fira_jax.fira_statistics` (``alpha``, ``gamma``, ...).
  """

  def stats(params, opt_state, frozen, batch_BxS1):
    def loss_fn(p):
      model = flat.merge(p, frozen)
      return lm_loss(model(batch_BxS1[:, :-1]), batch_BxS1[:, 1:])

    grads = jax.grad(loss_fn)(params)
    _, new_state = tx.update(grads, opt_state, params)
    if clip > 0:
      grads, _ = optax.clip_by_global_norm(clip).update(grads, optax.EmptyState())
    return fira_statistics(grads, opt_state, new_state, **fira_kwargs)

  return jax.jit(stats)


def make_eval_step(flat: FlatModel):
  """Returns a jitted ``eval(params, frozen, batch) -> mean loss``."""

  @functools.partial(jax.jit)
  def evaluate(params, frozen, batch_BxS1):
    model = flat.merge(params, frozen)
    return lm_loss(model(batch_BxS1[:, :-1]), batch_BxS1[:, 1:])

  return evaluate


def state_bytes(tree) -> int:
  """Bytes of every array leaf of ``tree`` (works on ShapeDtypeStructs too)."""
  return int(sum(x.size * jnp.dtype(x.dtype).itemsize for x in jax.tree.leaves(tree)))
