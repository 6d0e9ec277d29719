"""RW-KD: a meta-learned per-example mix of the label loss and KD."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from distill._kd import cross_entropy, kd_loss
from distill._validation import check_in_unit_interval

__all__ = ["reweighted_kd_loss", "rw_kd_meta_gradient"]

Array = jax.Array


def reweighted_kd_loss(
  student_logits: ArrayLike,
  teacher_logits: ArrayLike,
  labels: ArrayLike,
  weights: ArrayLike,
  *,
  temperature: ArrayLike = 1.0,
) -> Array:
  r"""RW-KD [reconstructed]: per-example mix of the label loss and KD.

  .. math::
    L_i = w_i\, \ell_{CE}(y_i, z_{s,i}) + (1 - w_i)\, L_{KD,i},
    \quad w_i = \mathrm{sigmoid}(f_\phi(\text{features}_i))

  Args:
    student_logits: ``(B, C)``.
    teacher_logits: ``(B, C)``.
    labels: ``(B,)``.
    weights: ``w`` in ``[0, 1]``, shape ``(B,)``.
    temperature: KD temperature.

  Returns:
    Per-example loss ``(B,)``.

  References:
    Lu et al., 2022 (RW-KD: meta-learned per-example weighting of the label and KD terms);
    the paper's text was not available in full, so this follows the spec's reading.
  """
  ce = cross_entropy(student_logits, labels)
  if jnp.shape(weights) != ce.shape:
    raise ValueError(f"weights must have shape {ce.shape}, got {jnp.shape(weights)}")
  check_in_unit_interval("weights", weights)
  kd = kd_loss(student_logits, teacher_logits, temperature=temperature)
  return weights * ce + (1.0 - weights) * kd


def rw_kd_meta_gradient(
  student_apply: Callable[[Any, Array], Array],
  meta_apply: Callable[[Any, Array], Array],
  student_params: Any,
  meta_params: Any,
  train_batch: tuple[Array, Array, Array, Array],
  heldout_batch: tuple[Array, Array],
  *,
  inner_lr: ArrayLike = 0.1,
  temperature: ArrayLike = 1.0,
) -> tuple[Array, Any]:
  r"""One-step look-ahead gradient for the RW-KD meta-network (bilevel update).

  .. math::
    \theta'(\phi) = \theta - \eta\, \nabla_\theta \tfrac1B \sum_i L_i(\theta; w_i(\phi)),\qquad
    g_\phi = \nabla_\phi\, \tfrac1{B'} \sum_{i'} \ell_{CE}(y_{i'}, f_{\theta'(\phi)}(x_{i'}))

  Args:
    student_apply: ``(params, x) -> logits (B, C)``.
    meta_apply: ``(meta_params, features) -> scores (B,)`` (``w = sigmoid(scores)``).
    student_params: ``θ``.
    meta_params: ``φ``.
    train_batch: ``(x, labels, teacher_logits, features)``.
    heldout_batch: ``(x, labels)`` of held-out data.
    inner_lr: ``η`` of the look-ahead step.
    temperature: KD temperature.

  Returns:
    ``(held-out loss after the look-ahead, gradient w.r.t. meta_params)``.
  """
  x, y, teacher_logits, features = train_batch
  x_val, y_val = heldout_batch

  def inner_loss(theta, phi):
    w = jax.nn.sigmoid(meta_apply(phi, features))
    return jnp.mean(
      reweighted_kd_loss(student_apply(theta, x), teacher_logits, y, w, temperature=temperature)
    )

  def outer(phi):
    g = jax.grad(inner_loss)(student_params, phi)
    theta_new = jax.tree.map(lambda p, d: p - inner_lr * d, student_params, g)
    return jnp.mean(cross_entropy(student_apply(theta_new, x_val), y_val))

  return jax.value_and_grad(outer)(meta_params)
