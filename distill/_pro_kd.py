"""Pro-KD: distillation that follows the teacher's training trajectory, stage by stage."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from distill._kd import kd_loss
from distill._validation import check_positive

__all__ = ["pro_kd_temperature", "pro_kd_loss"]

Array = jax.Array


def pro_kd_temperature(
  stage: ArrayLike, *, num_stages: int, t_start: ArrayLike = 4.0, t_end: ArrayLike = 1.0
) -> Array:
  r"""Pro-KD temperature [reconstructed]: linear from ``t_start`` at stage 0 to ``t_end`` at the
  last stage.

  .. math::
    T(k) = t_{start} + (t_{end} - t_{start}) \frac{\min(k, K-1)}{\max(K-1, 1)}
  """
  if num_stages < 1:
    raise ValueError(f"num_stages must be >= 1, got {num_stages}")
  check_positive("t_start", t_start)
  check_positive("t_end", t_end)
  frac = jnp.clip(jnp.asarray(stage, jnp.float32), 0, num_stages - 1) / max(num_stages - 1, 1)
  return t_start + (t_end - t_start) * frac


def pro_kd_loss(
  student_logits: ArrayLike,
  stage_teacher_logits: ArrayLike,
  stage: ArrayLike,
  *,
  num_stages: int,
  t_start: ArrayLike = 4.0,
  t_end: ArrayLike = 1.0,
) -> Array:
  r"""Pro-KD [reconstructed]: KD from the teacher checkpoint of the current stage.

  The student follows the teacher's training trajectory: at stage ``k`` it distils from the
  ``k``-th teacher checkpoint (``stage_teacher_logits``) at temperature
  :func:`pro_kd_temperature` ``(k)``:

  .. math::
    L = T(k)^2\, \mathrm{KL}(\sigma_{T(k)}(z_t^{(k)}) \| \sigma_{T(k)}(z_s))

  References:
    Rezagholizadeh et al., *Pro-KD: Progressive Distillation by Following the Footsteps of
    the Teacher*, COLING 2022 (arXiv:2110.08532).
  """
  t = pro_kd_temperature(stage, num_stages=num_stages, t_start=t_start, t_end=t_end)
  return kd_loss(student_logits, stage_teacher_logits, temperature=t)
