"""A minimal jit-compiled NNX training step shared by the KPOD pieces and the experiment."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import optax
from flax import nnx


@functools.partial(jax.jit, static_argnums=(0, 1), donate_argnums=2)
def _train_step(graphdef, loss_fn, state, batch, key):
  model, optimizer = nnx.merge(graphdef, state)
  grad_fn = nnx.value_and_grad(loss_fn, has_aux=True)
  (loss, aux), grads = grad_fn(model, batch, key)
  optimizer.update(model, grads)
  return nnx.state((model, optimizer)), loss, aux


class NNXTrainer:
  """Holds ``(model, optimizer)`` split into a graph definition and a state pytree, and runs a
  ``jax.jit``-ted step (compiled once per graph and loss function) with the state donated
  (the flax NNX functional idiom). The arrays of ``model`` are donated too: read the trained
  model back from :attr:`model`.

  Args:
    model: an NNX module; its ``nnx.Param`` variables are trained (other variable types, such
      as a frozen embedding, are left unchanged).
    tx: the optax transformation.
    loss_fn: ``(model, batch, key) -> (scalar loss, aux pytree)``.
  """

  def __init__(
    self,
    model: nnx.Module,
    tx: optax.GradientTransformation,
    loss_fn: Callable[[Any, Any, jax.Array], tuple[jax.Array, Any]],
  ):
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    self.graphdef, self.state = nnx.split((model, optimizer))
    self.loss_fn = loss_fn

  def step(self, batch: Any, key: jax.Array) -> tuple[jax.Array, Any]:
    """One optimisation step; returns ``(loss, aux)`` before the update."""
    self.state, loss, aux = _train_step(self.graphdef, self.loss_fn, self.state, batch, key)
    return loss, aux

  @property
  def model(self) -> nnx.Module:
    """The current model (a fresh module bound to a copy of the trained state)."""
    model, _ = nnx.merge(self.graphdef, jax.tree.map(lambda x: x.copy(), self.state))
    return model
