"""Continuation-KD: from a smoothed KD objective to the full one as training goes on."""

from __future__ import annotations

import jax
from jax.typing import ArrayLike

from distill._kd import kd_loss
from distill._validation import check_in_unit_interval

__all__ = ["continuation_kd_loss"]

Array = jax.Array


def continuation_kd_loss(
  student_logits: ArrayLike,
  teacher_logits: ArrayLike,
  lam: ArrayLike,
  *,
  smooth_temperature: ArrayLike = 4.0,
  temperature: ArrayLike = 1.0,
) -> Array:
  r"""Continuation-KD [reconstructed]: move from a smoothed KD objective to the full one.

  .. math::
    L(\lambda) = (1 - \lambda)\, L_{KD}(T_{smooth}) + \lambda\, L_{KD}(T)

  ``λ = 0`` is the smoothed, teacher-noise-tolerant loss (a high temperature flattens the
  teacher's mistakes), ``λ = 1`` the full KD loss; a schedule raises ``λ`` over training.

  References:
    Jafari et al., *Continuation KD: Improved Knowledge Distillation through the Lens of
    Continuation Optimization*, Findings of EMNLP 2022 (arXiv:2212.05998).
  """
  check_in_unit_interval("lam", lam)
  smooth = kd_loss(student_logits, teacher_logits, temperature=smooth_temperature)
  full = kd_loss(student_logits, teacher_logits, temperature=temperature)
  return (1.0 - lam) * smooth + lam * full
