"""MoEBERT's layer-wise distillation objective.

Shapes as in :mod:`distill._hidden_state`.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
from jax.typing import ArrayLike

from distill._hidden_state import mse_per_example
from distill._kd import cross_entropy, symmetric_kl_from_logits
from distill._validation import check_layers

__all__ = ["moebert_loss"]

Array = jax.Array


def moebert_loss(
  student_logits: ArrayLike,
  teacher_logits: ArrayLike,
  labels: ArrayLike,
  student_hidden: Sequence[ArrayLike],
  teacher_hidden: Sequence[ArrayLike],
  *,
  lam: ArrayLike = 5.0,
  where: ArrayLike | None = None,
) -> Array:
  r"""MoEBERT layer-wise distillation objective.

  .. math::
    L = \ell_{CE}(y, z_s) + \lambda \Big[\sum_{l=0}^{L} \mathrm{MSE}(H_s^l, H_t^l)
      + \tfrac12 \sum_c (p_c - q_c)(\log p_c - \log q_c)\Big]

  with ``p``/``q`` the teacher/student predictions (the symmetric KL).

  Args:
    student_logits: ``(B, C)``.
    teacher_logits: ``(B, C)``.
    labels: ``(B,)`` integer labels.
    student_hidden: ``L+1`` arrays (embeddings and every layer) ``(B, ..., d)``.
    teacher_hidden: the teacher's, same shapes.
    lam: ``λ`` (5 in the paper).
    where: optional mask of valid positions ``(B, ...)``.

  Returns:
    Per-example loss, shape ``(B,)``.

  References:
    Zuo et al., *MoEBERT: from BERT to Mixture-of-Experts via Importance-Guided Adaptation*,
    NAACL 2022 (arXiv:2204.07675).
  """
  check_layers("student_hidden", student_hidden, "teacher_hidden", teacher_hidden)
  task = cross_entropy(student_logits, labels)
  mse = sum(
    mse_per_example(s, t, where) for s, t in zip(student_hidden, teacher_hidden, strict=True)
  )
  return task + lam * (mse + symmetric_kl_from_logits(teacher_logits, student_logits))
