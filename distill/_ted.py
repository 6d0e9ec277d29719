"""TED: task-aware layer-wise distillation with learned filters.

Shapes as in :mod:`distill._hidden_state`.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
from jax.typing import ArrayLike

from distill._hidden_state import mse_per_example
from distill._kd import cross_entropy, kd_loss
from distill._validation import check_layers

__all__ = ["ted_loss"]

Array = jax.Array


def ted_loss(
  student_logits: ArrayLike,
  teacher_logits: ArrayLike,
  labels: ArrayLike,
  student_filtered: Sequence[ArrayLike],
  teacher_filtered: Sequence[ArrayLike],
  *,
  alpha_kl: ArrayLike = 5.0,
  alpha_mse: ArrayLike = 7500.0,
  temperature: ArrayLike = 2.0,
  where: ArrayLike | None = None,
) -> Array:
  r"""TED stage-2 objective: task loss + KD + task-aware filtered layer matching.

  .. math::
    L = \ell_{CE}(y, z_s) + \alpha_{kl} T^2 \mathrm{KL}(\sigma_T(z_t)\|\sigma_T(z_s))
      + \alpha_{mse} \frac1K \sum_k \mathrm{MSE}(g_s^k(H_s^k), g_t^k(H_t^k))

  The filters ``g`` are e.g. a :class:`LinearFilters` per network. In stage 1 the teacher
  filters are trained (teacher frozen) with the task loss of a head on ``g_t^k(H_t^k)``; in
  stage 2 they are frozen (pass ``jax.lax.stop_gradient`` of their outputs). Defaults follow
  the paper's MNLI example (``alpha_kl=5``, ``alpha_mse=7500``, ``T=2``).

  Args:
    student_logits: ``(B, C)``.
    teacher_logits: ``(B, C)``.
    labels: ``(B,)`` integer labels.
    student_filtered: ``K`` arrays ``g_s^k(H_s^k)`` of shape ``(B, ..., d)``.
    teacher_filtered: ``K`` arrays ``g_t^k(H_t^k)``, same shapes.
    alpha_kl: weight of the KD term.
    alpha_mse: weight of the filtered-layer term.
    temperature: KD temperature ``T > 0``.
    where: optional mask of valid positions of the hidden states ``(B, ...)``.

  Returns:
    Per-example loss, shape ``(B,)``.

  References:
    Liang et al., *Less is More: Task-aware Layer-wise Distillation for Language Model
    Compression*, ICML 2023 (arXiv:2210.01351).
  """
  check_layers("student_filtered", student_filtered, "teacher_filtered", teacher_filtered)
  task = cross_entropy(student_logits, labels)
  kd = kd_loss(student_logits, teacher_logits, temperature=temperature)
  mse = sum(
    mse_per_example(s, t, where) for s, t in zip(student_filtered, teacher_filtered, strict=True)
  ) / len(student_filtered)
  return task + alpha_kl * kd + alpha_mse * mse
