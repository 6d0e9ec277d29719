"""Evaluation on held-out sub-datasets: PudNet's prediction and the baselines on one code path.

Every method ends in the same target ``apply`` with norm statistics from the sub-dataset's
support set: ``random`` (He init), ``scratch`` (Adam from He init on the sub-dataset's training
part, accuracy after every epoch), ``pudnet`` (θ = H(support), no gradient step) and
``finetune`` (the scratch loop started from θ). Sub-dataset ``i`` is sampled from
``fold_in(key, i)`` inside the compiled evaluation, so every method sees the same images.
"""

from __future__ import annotations

import functools
import math
import statistics
import time

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from hypernet._convnet import ConvNet
from hypernet._pudnet import PudNet
from hypernet._tasks import Episode, Pool, flatten, sample_episode

__all__ = ["EvalSpec", "pudnet_accuracy", "random_accuracy", "train_curves", "timed"]


class EvalSpec:
  """The evaluation sub-datasets: ``num`` k-way tasks of ``n_train``/``n_test`` images per class
  from ``pool``, the support set the first ``n_support`` training images per class."""

  def __init__(self, pool: Pool, key, *, num, k, n_support, n_train, n_test, permute=True):
    self.pool, self.key, self.num, self.k = pool, key, num, k
    self.n_support, self.n_train, self.n_test, self.permute = n_support, n_train, n_test, permute

  def episode(self, i) -> Episode:
    return sample_episode(
      self.pool, jax.random.fold_in(self.key, i), k=self.k, n_train=self.n_train,
      n_test=self.n_test, permute=self.permute,
    )  # fmt: skip

  def keys(self) -> jax.Array:
    return jnp.arange(self.num)


_STATIC = ("num", "k", "n_support", "n_train", "n_test", "permute")


def _static(spec: EvalSpec) -> tuple:
  return tuple(getattr(spec, f) for f in _STATIC)


def _unstatic(pool, key, values: tuple) -> EvalSpec:
  return EvalSpec(pool, key, **dict(zip(_STATIC, values, strict=True)))


def _accuracy(target: ConvNet, params, ep: Episode, n_support: int) -> jax.Array:
  sx, _ = flatten(ep.train[:, :n_support])
  tx, ty = flatten(ep.test)
  state = target.batch_stats(params, sx)
  logits, _ = target.apply(params, state, tx)
  return (logits.argmax(-1) == ty).mean()


@functools.partial(nnx.jit, static_argnames=("spec_static",))
def _pudnet_accs(model: PudNet, pool, key, spec_static):
  num, k, n_s, n_tr, n_te, permute = spec_static
  spec = _unstatic(pool, key, spec_static)

  def one(i):
    ep = spec.episode(i)
    sx, sy = flatten(ep.train[:, :n_s])
    params, state = model(sx, sy)
    tx, ty = flatten(ep.test)
    logits, _ = model.target.apply(params, state, tx)
    return (logits.argmax(-1) == ty).mean()

  return jax.lax.map(one, spec.keys(), batch_size=min(num, 8))


def pudnet_accuracy(model: PudNet, spec: EvalSpec) -> jax.Array:
  """Held-out accuracy ``(num,)`` of the predicted networks, one per sub-dataset."""
  return _pudnet_accs(model, spec.pool, spec.key, _static(spec))


@functools.partial(jax.jit, static_argnames=("target", "spec_static"))
def _random_accs(target, pool, key, init_key, spec_static):
  spec = _unstatic(pool, key, spec_static)

  def one(i):
    params = target.init(jax.random.fold_in(init_key, i), spec.k)
    return _accuracy(target, params, spec.episode(i), spec.n_support)

  return jax.lax.map(one, spec.keys(), batch_size=min(spec.num, 8))


def random_accuracy(target: ConvNet, spec: EvalSpec, init_key) -> jax.Array:
  """Held-out accuracy ``(num,)`` of He-initialised networks (task ``i`` from
  ``fold_in(init_key, i)``)."""
  return _random_accs(target, spec.pool, spec.key, init_key, _static(spec))


def train_curve(target: ConvNet, params, ep: Episode, key, *, n_support, epochs, batch, lr):
  """Adam on the episode's training part from ``params``; held-out accuracy after each epoch
  ``(epochs,)`` (norm statistics from the support set, as for every method)."""
  x, y = flatten(ep.train)
  n = x.shape[0]
  spe = math.ceil(n / batch)
  tx = optax.adam(lr)

  def loss(p, xb, yb):
    logits, _ = target.apply(p, None, xb, train=True)
    return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

  def step(carry, idx):
    p, o = carry
    g = jax.grad(loss)(p, x[idx], y[idx])
    upd, o = tx.update(g, o, p)
    return (optax.apply_updates(p, upd), o), None

  def epoch(carry, e):
    perm = jax.random.permutation(jax.random.fold_in(key, e), n)
    idx = perm[jnp.arange(spe * batch) % n].reshape(spe, batch)
    carry, _ = jax.lax.scan(step, carry, idx)
    return carry, _accuracy(target, carry[0], ep, n_support)

  _, accs = jax.lax.scan(epoch, (params, tx.init(params)), jnp.arange(epochs))
  return accs


@functools.partial(
  jax.jit, static_argnames=("target", "spec_static", "epochs", "batch", "lr", "map_batch")
)
def _scratch_curves(target, pool, key, init_key, spec_static, epochs, batch, lr, map_batch):
  spec = _unstatic(pool, key, spec_static)

  def one(i):
    k_init = jax.random.fold_in(init_key, i)
    params = target.init(k_init, spec.k)
    return train_curve(
      target, params, spec.episode(i), jax.random.fold_in(k_init, 1), n_support=spec.n_support,
      epochs=epochs, batch=batch, lr=lr,
    )  # fmt: skip

  return jax.lax.map(one, spec.keys(), batch_size=map_batch)


@functools.partial(nnx.jit, static_argnames=("spec_static", "epochs", "batch", "lr", "map_batch"))
def _finetune_curves(model, pool, key, init_key, spec_static, epochs, batch, lr, map_batch):
  spec = _unstatic(pool, key, spec_static)

  def one(i):
    ep = spec.episode(i)
    sx, sy = flatten(ep.train[:, : spec.n_support])
    params, _ = model(sx, sy)
    params = jax.lax.stop_gradient(params)
    return train_curve(
      model.target, params, ep, jax.random.fold_in(init_key, i), n_support=spec.n_support,
      epochs=epochs, batch=batch, lr=lr,
    )  # fmt: skip

  return jax.lax.map(one, spec.keys(), batch_size=map_batch)


def train_curves(
  target_or_model,
  spec: EvalSpec,
  init_key,
  *,
  epochs: int,
  batch: int,
  lr: float,
  map_batch: int | None = None,
) -> jax.Array:
  """Accuracy after each epoch ``(num, epochs)``: scratch from He init for a :class:`ConvNet`,
  fine-tuning from the prediction for a :class:`PudNet`.

  ``map_batch``: sub-datasets trained at once (``jax.vmap``; ``None`` = one after another,
  plain convolutions, the fast choice on XLA:CPU; ``spec.num`` = all at once, on accelerators).
  """
  if isinstance(target_or_model, PudNet):
    fn = _finetune_curves
  else:
    fn = _scratch_curves
  return fn(
    target_or_model, spec.pool, spec.key, init_key, _static(spec), epochs, batch, lr, map_batch
  )


def timed(fn, *args, repeats: int = 10) -> tuple[float, float]:
  """``(median seconds of fn(*args) over repeats, seconds of the first, compiling, call)``,
  each waited for with ``block_until_ready``."""
  tic = time.perf_counter()
  jax.block_until_ready(fn(*args))
  first = time.perf_counter() - tic
  times = []
  for _ in range(repeats):
    tic = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - tic)
  return statistics.median(times), first
