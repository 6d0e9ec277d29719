"""The assembled optimizers: :func:`fira` and :func:`galore`."""

from __future__ import annotations

import math
from typing import Any

import chex
import optax

from fira_jax._src import adam
from fira_jax._src import dimension_numbers as dn
from fira_jax._src import residual as res
from fira_jax._src.projection import scale_by_low_rank_projection
from fira_jax._src.projectors import ProjectorFn


def _is_number(value) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_range(name: str, value, low: float, *, high: float | None = None, open_low=False):
  """Raises ValueError naming ``name`` when a Python number is non-finite or out of range
  (arrays and schedules are left alone: they are only known inside the update)."""
  if not _is_number(value):
    return
  ok = math.isfinite(value) and (value > low if open_low else value >= low)
  ok = ok and (high is None or value < high)
  if not ok:
    bound = f"{'>' if open_low else '>='} {low:g}"
    bound = f"in [{low:g}, {high:g})" if high is not None else bound
    raise ValueError(f"`{name}` must be {bound} and finite, got {value!r}")


def _check_common(learning_rate, b1, b2, eps, **more):
  """Validates the Adam constants, the learning rate and ``more`` (name -> (value, low,
  open_low)) of a constructor."""
  _check_range("b1", b1, 0.0, high=1.0)
  _check_range("b2", b2, 0.0, high=1.0)
  _check_range("eps", eps, 0.0)
  _check_range("learning_rate", learning_rate, 0.0)
  for name, (value, low, open_low) in more.items():
    _check_range(name, value, low, open_low=open_low)


def fira(
  learning_rate: optax.ScalarOrSchedule,
  rank: int = 128,
  *,
  update_proj_gap: chex.Numeric = 200,
  alpha: chex.Numeric = 1.0,
  b1: chex.Numeric = 0.9,
  b2: chex.Numeric = 0.999,
  eps: chex.Numeric = 1e-6,
  weight_decay: chex.Numeric = 0.0,
  mask: Any | None = None,
  proj_type: str = "std",
  gamma: chex.Numeric | None = 1.01,
  norm_scaling: str = "channel",
  residual_form: str = "official",
  projector_fn: ProjectorFn | None = None,
  weight_dimension_numbers: dn.DimNumsOrFn = None,
  mu_dtype: Any | None = None,
  refresh_batch_size: int | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""Fira: full-rank training under a low-rank optimizer-state constraint.

  For a projected matrix with gradient :math:`G_t`, projector :math:`P` (refreshed every
  ``update_proj_gap`` steps from the SVD of :math:`G_t`, see
  :func:`scale_by_low_rank_projection`), :math:`R_t` its low-rank gradient and
  :math:`\alpha` = ``alpha``, the official ``FiraAdamW`` computes

  .. math::
    M_t &= \beta_1 M_{t-1} + (1-\beta_1) R_t, \quad
    V_t = \beta_2 V_{t-1} + (1-\beta_2) R_t^2, \quad
    N_t = M_t / (\sqrt{V_t} + \epsilon) \\
    \phi_t &= \lVert N_t \rVert / (\lVert R_t \rVert + 10^{-8}) \quad
      \text{(per row/column along the rank axis)} \\
    S_t &= \big(G_t - \alpha\,\mathrm{back}(R_t)\big) \odot \phi_t, \quad
    S_t \leftarrow S_t / \big(\max(\lVert S_t\rVert / \lVert S_{t-1}\rVert, \gamma)/\gamma\big) \\
    W &\leftarrow W - \eta_t \tfrac{\sqrt{1-\beta_2^{t+1}}}{1-\beta_1^{t+1}}
      \big(\alpha\,\mathrm{back}(N_t) + S_t\big), \qquad
    W \leftarrow W - \eta_t \lambda W.

  Leaves that are not projected take the same AdamW without projection. With the defaults this
  is exactly the official ``fira==1.0.2`` ``FiraAdamW``. It is the chain

  ``scale_by_low_rank_projection(base=scale_by_adam_moments, residual=fira_residual(...))``
  → ``scale_by_adam_bias_correction`` → ``scale_by_learning_rate`` →
  ``add_decayed_weights_after_update``.

  Args:
    learning_rate: :math:`\eta_t`, a scalar or a schedule.
    rank: projection rank (``int`` > 0; clamped to each matrix's smaller side).
    update_proj_gap: projector refresh period.
    alpha: :math:`\alpha`, the scale of the back-projected update (the official ``alpha``;
      GaLore's ``scale``). The paper's recipes use 0.25 (60M-350M) and 0.0625 (1B, 7B).
    b1: Adam's :math:`\beta_1`.
    b2: Adam's :math:`\beta_2`.
    eps: Adam's :math:`\epsilon`, added to :math:`\sqrt{V_t}`.
    weight_decay: :math:`\lambda`, decoupled, applied to the updated weights.
    mask: which leaves weight decay applies to (a pytree of bools or a callable of params).
    proj_type: ``"std"`` (official), ``"reverse_std"`` (``optax.contrib.galore``'s side,
      fewer moments), ``"left"``, ``"right"``.
    gamma: the norm-growth limiter's :math:`\gamma \ge 1`; ``None`` disables the limiter
      (ablation).
    norm_scaling: ``"channel"`` (official per row/column :math:`\phi`), ``"matrix"`` (the
      paper's per-matrix :math:`\phi`), ``"none"`` (residual unscaled; ablation).
    residual_form: ``"official"`` (:math:`G - \alpha\,\mathrm{back}(R)`) or ``"paper"``
      (:math:`(I - PP^\top) G`).
    projector_fn: ``(grad_2d, rank, step) -> (u_r, v_r)``; default :func:`svd_projector`,
      also :func:`eigh_projector`, :func:`randomized_svd_projector` or a user function.
    weight_dimension_numbers: which leaves are projected and how they are seen as matrices
      (as in ``optax.contrib.galore``; default: every 2-D leaf).
    mu_dtype: dtype of the first moment.
    refresh_batch_size: ``None`` or k: refresh same-shape matrices k at a time with one
      compiled projector (see :func:`scale_by_low_rank_projection`).

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  .. warning::
    With ``optax.inject_hyperparams`` pass ``static_args=("rank",)`` (and
    ``"projector_fn"``, ``"mask"`` if given: callables are taken for schedules).

  Examples:
    >>> import jax, jax.numpy as jnp, optax, fira_jax
    >>> params = {"w": jnp.ones((64, 32)), "b": jnp.zeros((32,))}
    >>> tx = optax.chain(optax.clip_by_global_norm(1.0), fira_jax.fira(1e-2, rank=8))
    >>> state = tx.init(params)
    >>> grads = jax.tree.map(jnp.ones_like, params)
    >>> updates, state = tx.update(grads, state, params)
    >>> params = optax.apply_updates(params, updates)

  References:
    Chen et al., `Fira: Can We Achieve Full-rank Training of LLMs Under Low-rank Constraint?
    <https://arxiv.org/abs/2410.01623>`_, 2024.
  """
  _check_common(
    learning_rate, b1, b2, eps, alpha=(alpha, 0.0, False), weight_decay=(weight_decay, 0.0, False),
    gamma=(gamma, 1.0, False),
  )  # fmt: skip
  return optax.chain(
    scale_by_low_rank_projection(
      rank,
      update_proj_gap,
      alpha,
      adam.scale_by_adam_moments(b1, b2, eps, mu_dtype),
      weight_dimension_numbers,
      proj_type=proj_type,
      projector_fn=projector_fn,
      refresh_batch_size=refresh_batch_size,
      residual_transform=res.fira_residual(norm_scaling, gamma),
      residual_form=residual_form,
    ),
    adam.scale_by_adam_bias_correction(b1, b2),
    optax.scale_by_learning_rate(learning_rate),
    adam.add_decayed_weights_after_update(learning_rate, weight_decay, mask),
  )


def galore(
  learning_rate: optax.ScalarOrSchedule,
  rank: int = 128,
  *,
  update_proj_gap: chex.Numeric = 200,
  scale: chex.Numeric = 1.0,
  base_optimizer: optax.GradientTransformation | None = None,
  b1: chex.Numeric = 0.9,
  b2: chex.Numeric = 0.999,
  eps: chex.Numeric = 1e-6,
  weight_decay: chex.Numeric = 0.0,
  mask: Any | None = None,
  proj_type: str = "std",
  projector_fn: ProjectorFn | None = None,
  weight_dimension_numbers: dn.DimNumsOrFn = None,
  mu_dtype: Any | None = None,
  refresh_batch_size: int | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""GaLore: Adam in a periodically refreshed low-rank subspace of each gradient.

  Fira without the residual branch (see :func:`fira` for the notation):

  .. math::
    W \leftarrow W - \eta_t \tfrac{\sqrt{1-\beta_2^{t+1}}}{1-\beta_1^{t+1}}\,
    \alpha\,\mathrm{back}(N_t), \qquad W \leftarrow W - \eta_t \lambda W.

  With the defaults this is exactly the official ``galore-torch==1.0`` ``GaLoreAdamW``. The
  keywords mirror ``optax.contrib.galore``; with ``proj_type="reverse_std"``,
  ``base_optimizer=optax.scale_by_adam(...)`` and ``weight_decay=0`` the two compute the same
  update. A user ``base_optimizer`` replaces the official Adam (and its bias correction, which
  it then must do itself, as ``optax.scale_by_adam`` does).

  Args:
    learning_rate: :math:`\eta_t`, a scalar or a schedule.
    rank: projection rank (``int`` > 0; clamped to each matrix's smaller side).
    update_proj_gap: projector refresh period.
    scale: :math:`\alpha`, the scale of the back-projected update.
    base_optimizer: inner gradient-only transform; ``None`` = the official Adam.
    b1: Adam's :math:`\beta_1` (official Adam only).
    b2: Adam's :math:`\beta_2` (official Adam only).
    eps: Adam's :math:`\epsilon` (official Adam only).
    weight_decay: :math:`\lambda`, decoupled, applied to the updated weights.
    mask: which leaves weight decay applies to.
    proj_type: ``"std"``, ``"reverse_std"``, ``"left"`` or ``"right"``.
    projector_fn: ``(grad_2d, rank, step) -> (u_r, v_r)``.
    weight_dimension_numbers: as in ``optax.contrib.galore``.
    mu_dtype: dtype of the first moment (official Adam only).
    refresh_batch_size: ``None`` or k: refresh same-shape matrices k at a time with one
      compiled projector (see :func:`scale_by_low_rank_projection`).

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  References:
    Zhao et al., `GaLore: Memory-Efficient LLM Training by Gradient Low-Rank Projection
    <https://arxiv.org/abs/2403.03507>`_, 2024.
  """
  _check_common(
    learning_rate, b1, b2, eps, scale=(scale, 0.0, False), weight_decay=(weight_decay, 0.0, False),
  )  # fmt: skip
  if base_optimizer is None:
    inner = adam.scale_by_adam_moments(b1, b2, eps, mu_dtype)
    correction = [adam.scale_by_adam_bias_correction(b1, b2)]
  else:
    inner, correction = base_optimizer, []
  return optax.chain(
    scale_by_low_rank_projection(
      rank,
      update_proj_gap,
      scale,
      inner,
      weight_dimension_numbers,
      proj_type=proj_type,
      projector_fn=projector_fn,
      refresh_batch_size=refresh_batch_size,
    ),
    *correction,
    optax.scale_by_learning_rate(learning_rate),
    adam.add_decayed_weights_after_update(learning_rate, weight_decay, mask),
  )
