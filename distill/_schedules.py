"""Schedules and re-weightings of progressive/annealed KD as pure, jit-friendly functions.

Steps, stages, temperatures and weights may be traced: phases are chosen with ``jnp.where``,
never with Python ``if`` on values, so a ``jit``-ted training step compiles once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from distill import _validation as v
from distill._kd import cross_entropy, kd_loss

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
  v.check_same_shape("student_logits", student_logits, "teacher_logits", teacher_logits)
  v.check_positive("temperature", temperature)
  v.check_positive("tau_max", tau_max)
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
  v.check_positive("t_start", t_start)
  v.check_positive("t_end", t_end)
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
  v.check_in_unit_interval("lam", lam)
  smooth = kd_loss(student_logits, teacher_logits, temperature=smooth_temperature)
  full = kd_loss(student_logits, teacher_logits, temperature=temperature)
  return (1.0 - lam) * smooth + lam * full


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
  v.check_in_unit_interval("weights", weights)
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
