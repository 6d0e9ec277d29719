"""The official (Hugging Face style) AdamW formulation, split into optax pieces.

The official Fira and GaLore code normalises with un-bias-corrected moments and folds the bias
correction into the step size:

.. math::
  M_t = \\beta_1 M_{t-1} + (1-\\beta_1) G_t, \\quad V_t = \\beta_2 V_{t-1} + (1-\\beta_2) G_t^2,
  \\quad N_t = \\frac{M_t}{\\sqrt{V_t} + \\epsilon},

  W \\leftarrow W - \\eta \\frac{\\sqrt{1-\\beta_2^{t+1}}}{1-\\beta_1^{t+1}} N_t,
  \\qquad W \\leftarrow W - \\eta \\lambda W \\quad \\text{(decay of the updated weights)}.

This equals ``optax.scale_by_adam`` with :math:`\\epsilon` replaced by
:math:`\\epsilon / \\sqrt{1 - \\beta_2^{t+1}}`, but keeping the pieces apart lets Fira's residual
scaling and growth limiter act on the un-corrected :math:`N_t`, as the official code does.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax
from optax import tree_utils as otu


class ScaleByAdamMomentsState(NamedTuple):
  """State of :func:`scale_by_adam_moments`: the two moment trees."""

  mu: optax.Updates
  nu: optax.Updates


def scale_by_adam_moments(
  b1: chex.Numeric = 0.9,
  b2: chex.Numeric = 0.999,
  eps: chex.Numeric = 1e-6,
  mu_dtype: Any | None = None,
) -> optax.GradientTransformation:
  r"""Adam's direction without bias correction: :math:`N_t = M_t / (\sqrt{V_t} + \epsilon)`.

  .. math::
    M_t = \beta_1 M_{t-1} + (1-\beta_1) G_t, \quad V_t = \beta_2 V_{t-1} + (1-\beta_2) G_t^2

  Chain it with :func:`scale_by_adam_bias_correction` for the full official Adam step. It needs
  no parameters, so it can run inside a low-rank projection.

  Args:
    b1: decay of the first moment.
    b2: decay of the second moment.
    eps: added to :math:`\sqrt{V_t}` (outside the square root).
    mu_dtype: dtype of the first moment (default: the gradient's).

  Returns:
    A gradient-only ``optax.GradientTransformation``.
  """

  def init_fn(params):
    mu = otu.tree_zeros_like(params, dtype=mu_dtype)
    nu = otu.tree_zeros_like(params)
    return ScaleByAdamMomentsState(mu=mu, nu=nu)

  def update_fn(updates, state, params=None):
    del params
    mu = otu.tree_update_moment(updates, state.mu, b1, 1)
    nu = otu.tree_update_moment_per_elem_norm(updates, state.nu, b2, 2)
    out = jax.tree.map(lambda m, v: (m / (jnp.sqrt(v) + eps)).astype(v.dtype), mu, nu)
    mu = otu.tree_cast(mu, mu_dtype)
    return out, ScaleByAdamMomentsState(mu=mu, nu=nu)

  return optax.GradientTransformation(init_fn, update_fn)


class ScaleByBiasCorrectionState(NamedTuple):
  """State of :func:`scale_by_adam_bias_correction`: the step count."""

  count: jax.Array  # shape=(), int32


def scale_by_adam_bias_correction(
  b1: chex.Numeric = 0.9, b2: chex.Numeric = 0.999
) -> optax.GradientTransformation:
  r"""Scales updates by Adam's bias correction :math:`\sqrt{1-\beta_2^{t+1}} / (1-\beta_1^{t+1})`.

  Args:
    b1: Adam's first-moment decay.
    b2: Adam's second-moment decay.

  Returns:
    An ``optax.GradientTransformation``; t is its own step count.
  """

  def init_fn(params):
    del params
    return ScaleByBiasCorrectionState(count=jnp.zeros([], jnp.int32))

  def update_fn(updates, state, params=None):
    del params
    count = optax.safe_increment(state.count)
    t = count.astype(jnp.float32)
    factor = jnp.sqrt(1.0 - jnp.asarray(b2, jnp.float32) ** t) / (
      1.0 - jnp.asarray(b1, jnp.float32) ** t
    )
    updates = jax.tree.map(lambda u: (u * factor).astype(u.dtype), updates)
    return updates, ScaleByBiasCorrectionState(count=count)

  return optax.GradientTransformation(init_fn, update_fn)


class DecayAfterUpdateState(NamedTuple):
  """State of :func:`add_decayed_weights_after_update`: the step count (for schedules)."""

  count: jax.Array  # shape=(), int32


def add_decayed_weights_after_update(
  learning_rate: optax.ScalarOrSchedule,
  weight_decay: chex.Numeric = 0.0,
  mask: Any | None = None,
) -> optax.GradientTransformation:
  r"""Decoupled weight decay of the *updated* weights (the official Fira/GaLore/HF order).

  Placed last in a chain, after the learning rate, it turns an update :math:`u` into

  .. math::
    u' = u - \eta_t \lambda (W + u), \quad\text{i.e.}\quad
    W + u' = (W + u)(1 - \eta_t \lambda).

  ``optax.add_decayed_weights`` placed before the learning rate decays the weights before the
  update instead (the ``torch.optim.AdamW`` order); the two differ by
  :math:`\eta_t \lambda u`.

  Args:
    learning_rate: the learning rate :math:`\eta_t` (a scalar or a schedule of the step).
    weight_decay: :math:`\lambda`.
    mask: a pytree of booleans (or a callable of the params returning one) selecting the leaves
      to decay; ``None`` decays every leaf.

  Returns:
    An ``optax.GradientTransformation`` that needs ``params``.
  """

  def init_fn(params):
    del params
    return DecayAfterUpdateState(count=jnp.zeros([], jnp.int32))

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError(
        "weight decay needs the parameters: call `update(grads, state, params)` with `params`"
      )
    lr = learning_rate(state.count) if callable(learning_rate) else learning_rate
    decay = jnp.asarray(lr, jnp.float32) * jnp.asarray(weight_decay, jnp.float32)
    updates = jax.tree.map(
      lambda u, p: (u - decay * (p.astype(jnp.float32) + u.astype(jnp.float32))).astype(u.dtype),
      updates,
      params,
    )
    return updates, DecayAfterUpdateState(count=optax.safe_increment(state.count))

  if mask is not None:
    return optax.masked(optax.GradientTransformation(init_fn, update_fn), mask)
  return optax.GradientTransformation(init_fn, update_fn)
