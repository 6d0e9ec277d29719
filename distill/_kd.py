"""Output-space distillation losses: Hinton KD, its token-level form, label smoothing.

Every loss is a pure function of arrays that returns one value per example (the class axis is
reduced); hyper-parameters are keyword-only and may be traced (schedulable inside ``jit``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from distill._validation import (
  check_in_unit_interval,
  check_ndim,
  check_positive,
  check_same_shape,
  check_where,
)

Array = jax.Array


def _masked_log_softmax(logits: Array, axis: int, where: Array | None) -> Array:
  if where is None:
    return jax.nn.log_softmax(logits, axis=axis)
  logits = jnp.where(where, logits, -jnp.inf)
  return jax.nn.log_softmax(logits, axis=axis, where=where)


def kl_divergence_from_logits(
  p_logits: Array, q_logits: Array, *, axis: int = -1, where: Array | None = None
) -> Array:
  r"""KL divergence :math:`\mathrm{KL}(\mathrm{softmax}(p) \| \mathrm{softmax}(q))`.

  .. math::
    \mathrm{KL}(p \| q) = \sum_c p_c (\log p_c - \log q_c)

  Args:
    p_logits: logits of the target distribution, shape ``(..., C)``.
    q_logits: logits of the approximating distribution, same shape.
    axis: the class axis.
    where: optional boolean mask of the classes, same shape; excluded classes take no
      probability mass in either distribution.

  Returns:
    The divergence per example, shape ``(...)`` (``axis`` removed).
  """
  check_same_shape("p_logits", p_logits, "q_logits", q_logits)
  check_where("where", where, jnp.shape(p_logits))
  log_p = _masked_log_softmax(jnp.asarray(p_logits), axis, where)
  log_q = _masked_log_softmax(jnp.asarray(q_logits), axis, where)
  terms = jnp.exp(log_p) * (log_p - log_q)
  if where is not None:
    terms = jnp.where(where, terms, 0.0)
  return jnp.sum(terms, axis=axis)


def kd_loss(
  student_logits: ArrayLike,
  teacher_logits: ArrayLike,
  *,
  temperature: ArrayLike = 1.0,
  axis: int = -1,
  where: Array | None = None,
) -> Array:
  r"""Hinton knowledge distillation loss, one value per example.

  .. math::
    L = T^2\, \mathrm{KL}(\sigma_T(z_t) \| \sigma_T(z_s))
      = T^2 \sum_c p_c (\log p_c - \log q_c),\quad p = \sigma_T(z_t),\ q = \sigma_T(z_s)

  with :math:`\sigma_T(z) = \mathrm{softmax}(z / T)`. The :math:`T^2` factor keeps the gradient
  scale independent of the temperature. Usually mixed as
  :math:`(1-\lambda)\,\ell_{CE}(y, z_s) + \lambda L`.

  Args:
    student_logits: student logits ``z_s``, shape ``(..., C)``.
    teacher_logits: teacher logits ``z_t``, same shape.
    temperature: softmax temperature ``T > 0`` (scalar or broadcastable to ``(...)``).
    axis: the class axis.
    where: optional boolean mask of the classes (shape of the logits).

  Returns:
    Per-example loss of shape ``(...)``.

  Raises:
    ValueError: for mismatched shapes or a temperature ``<= 0``.

  References:
    Hinton, Vinyals, Dean, *Distilling the Knowledge in a Neural Network*, arXiv:1503.02531.
  """
  check_same_shape("student_logits", student_logits, "teacher_logits", teacher_logits)
  check_positive("temperature", temperature)
  t = jnp.asarray(temperature)
  t_c = jnp.expand_dims(t, axis) if t.ndim else t
  zs = jnp.asarray(student_logits) / t_c
  zt = jnp.asarray(teacher_logits) / t_c
  return t**2 * kl_divergence_from_logits(zt, zs, axis=axis, where=where)


def token_kd_loss(
  student_logits: ArrayLike,
  teacher_logits: ArrayLike,
  *,
  temperature: ArrayLike = 1.0,
  where: ArrayLike | None = None,
) -> Array:
  r"""Token-level KD for sequences: the mean of :func:`kd_loss` over valid tokens.

  .. math::
    L_b = \frac{\sum_l m_{bl}\, T^2 \mathrm{KL}(\sigma_T(z^t_{bl}) \| \sigma_T(z^s_{bl}))}
               {\max(1, \sum_l m_{bl})}

  Args:
    student_logits: shape ``(B, L, V)``.
    teacher_logits: shape ``(B, L, V)``.
    temperature: ``T > 0``.
    where: boolean mask of valid tokens, shape ``(B, L)`` (default: all valid).

  Returns:
    Per-sequence loss, shape ``(B,)``; a sequence with no valid token gives 0.
  """
  check_ndim("student_logits", student_logits, 3)
  per_token = kd_loss(student_logits, teacher_logits, temperature=temperature)
  if where is None:
    return jnp.mean(per_token, axis=-1)
  check_where("where", where, per_token.shape)
  m = jnp.asarray(where, per_token.dtype)
  return jnp.sum(per_token * m, axis=-1) / jnp.maximum(jnp.sum(m, axis=-1), 1.0)


def smooth_labels(labels: ArrayLike, num_classes: int, *, alpha: ArrayLike = 0.1) -> Array:
  r"""Label-smoothing targets of the teacher-free study: :math:`1-\alpha` on the true class.

  .. math::
    \tilde y_c = (1 - \alpha)\,[c = y] + \frac{\alpha}{C - 1}\,[c \ne y]

  (optax's ``smooth_labels`` spreads :math:`\alpha / C` over all classes instead.)

  Args:
    labels: integer class ids, shape ``(...)``.
    num_classes: ``C >= 2``.
    alpha: smoothing mass in ``[0, 1]``.

  Returns:
    Targets of shape ``(..., C)``.
  """
  if not isinstance(num_classes, int) or num_classes < 2:
    raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
  check_in_unit_interval("alpha", alpha)
  one_hot = jax.nn.one_hot(labels, num_classes)
  return one_hot * (1.0 - alpha) + (1.0 - one_hot) * alpha / (num_classes - 1)


def label_smoothing_loss(
  logits: ArrayLike, labels: ArrayLike, *, alpha: ArrayLike = 0.1, axis: int = -1
) -> Array:
  r"""Cross-entropy against :func:`smooth_labels` targets (teacher-free regulariser).

  .. math::
    L = -\sum_c \tilde y_c \log \mathrm{softmax}(z)_c

  Args:
    logits: shape ``(..., C)`` with the class axis last (``axis=-1``).
    labels: integer class ids, shape ``(...)``.
    alpha: smoothing mass in ``[0, 1]``; 0.1 is the teacher-free study's value.
    axis: the class axis; only ``-1`` is supported.

  Returns:
    Per-example loss, shape ``(...)``.

  References:
    Yuan et al., *Revisiting Knowledge Distillation via Label Smoothing Regularization*,
    CVPR 2020 (arXiv:1909.11723).
  """
  if axis != -1:
    raise ValueError(f"axis must be -1 (classes last), got {axis}")
  logits = jnp.asarray(logits)
  if jnp.shape(labels) != logits.shape[:-1]:
    raise ValueError(
      f"labels must have shape {logits.shape[:-1]} (logits without the class axis), "
      f"got {jnp.shape(labels)}"
    )
  targets = smooth_labels(labels, logits.shape[-1], alpha=alpha)
  return -jnp.sum(targets * jax.nn.log_softmax(logits), axis=-1)


def cross_entropy(logits: ArrayLike, labels: ArrayLike) -> Array:
  """Integer-label cross-entropy per example, shape ``logits.shape[:-1]``."""
  logits = jnp.asarray(logits)
  if jnp.shape(labels) != logits.shape[:-1]:
    raise ValueError(
      f"labels must have shape {logits.shape[:-1]} (logits without the class axis), "
      f"got {jnp.shape(labels)}"
    )
  log_p = jax.nn.log_softmax(logits)
  return -jnp.take_along_axis(log_p, jnp.asarray(labels)[..., None], axis=-1)[..., 0]


def symmetric_kl_from_logits(p_logits: ArrayLike, q_logits: ArrayLike) -> Array:
  r"""Symmetric KL per example: :math:`\tfrac12 \sum_c (p_c - q_c)(\log p_c - \log q_c)`."""
  check_same_shape("p_logits", p_logits, "q_logits", q_logits)
  log_p = jax.nn.log_softmax(jnp.asarray(p_logits))
  log_q = jax.nn.log_softmax(jnp.asarray(q_logits))
  return 0.5 * jnp.sum((jnp.exp(log_p) - jnp.exp(log_q)) * (log_p - log_q), axis=-1)
