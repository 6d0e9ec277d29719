"""Annealing-KD: an annealed teacher in phase 1, the labels in phase 2.

The step may be traced: the phase is chosen with ``jnp.where``, never with a Python ``if`` on a
value, so a ``jit``-ted training step compiles once.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from distill._kd import cross_entropy
from distill._validation import check_positive, check_same_shape

__all__ = ["annealing_temperature", "annealing_kd_loss", "annealing_kd_objective"]

Array = jax.Array


def annealing_temperature(step: ArrayLike, *, phase1_steps: int, tau_max: int = 10) -> Array:
  r"""Annealing-KD temperature: an integer ``T`` rising from 1 to ``τ_max`` over phase 1.

  .. math::
    T(s) = \min\big(\tau_{max},\ 1 + \lfloor s\, \tau_{max} / S_1 \rfloor\big)

  so each of the ``τ_max`` values is used for ``S_1/τ_max`` steps (the official code raises
  ``T`` by one every ``epochs/τ_max`` epochs).

  Args:
    step: current step ``s`` (may be traced).
    phase1_steps: length ``S_1 > 0`` of phase 1.
    tau_max: final temperature ``τ_max >= 1`` (10 in the paper).

  Returns:
    ``T`` as a float scalar.
  """
  if phase1_steps <= 0:
    raise ValueError(f"phase1_steps must be > 0, got {phase1_steps}")
  if tau_max < 1:
    raise ValueError(f"tau_max must be >= 1, got {tau_max}")
  s = jnp.asarray(step, jnp.int32)  # integer division: exact, unlike a float reciprocal
  return jnp.minimum(tau_max, 1 + (s * tau_max) // phase1_steps).astype(jnp.float32)


def annealing_kd_loss(
  student_logits: ArrayLike,
  teacher_logits: ArrayLike,
  *,
  temperature: ArrayLike,
  tau_max: ArrayLike = 10.0,
) -> Array:
  r"""Annealing-KD phase-1 loss: regress the student logits on an annealed teacher.

  .. math::
    L = \frac1C \sum_c \big(z_{s,c} - z_{t,c}\, T/\tau_{max}\big)^2

  Args:
    student_logits: ``(..., C)``.
    teacher_logits: ``(..., C)``.
    temperature: ``T`` in ``[1, τ_max]`` (see :func:`annealing_temperature`).
    tau_max: ``τ_max``.

  Returns:
    Per-example loss ``(...)``.

  References:
    Jafari et al., *Annealing Knowledge Distillation*, EACL 2021 (arXiv:2104.07163).
  """
  check_same_shape("student_logits", student_logits, "teacher_logits", teacher_logits)
  check_positive("temperature", temperature)
  check_positive("tau_max", tau_max)
  target = jnp.asarray(teacher_logits) * (temperature / tau_max)
  return jnp.mean((jnp.asarray(student_logits) - target) ** 2, axis=-1)


def annealing_kd_objective(
  student_logits: ArrayLike,
  teacher_logits: ArrayLike,
  labels: ArrayLike,
  step: ArrayLike,
  *,
  phase1_steps: int,
  tau_max: int = 10,
) -> Array:
  """Both Annealing-KD phases: :func:`annealing_kd_loss` while ``step < phase1_steps``, then
  plain cross-entropy on the labels. Per-example, ``(...)``; ``step`` may be traced."""
  t = annealing_temperature(step, phase1_steps=phase1_steps, tau_max=tau_max)
  phase1 = annealing_kd_loss(student_logits, teacher_logits, temperature=t, tau_max=tau_max)
  phase2 = cross_entropy(student_logits, labels)
  return jnp.where(jnp.asarray(step) < phase1_steps, phase1, phase2)
