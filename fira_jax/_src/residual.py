"""Fira's residual branch: norm-based scaling and the norm-growth limiter."""

from __future__ import annotations

import weakref
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

NORM_SCALINGS = ("channel", "matrix", "none")


def _f32_norm(x: jax.Array, axis=None, keepdims: bool = False) -> jax.Array:
  return jnp.sqrt(jnp.sum(jnp.square(x.astype(jnp.float32)), axis=axis, keepdims=keepdims))


def scale_by_norm_ratio(
  mode: str = "channel", *, eps: chex.Numeric = 1e-8
) -> optax.GradientTransformationExtraArgs:
  r"""Fira's norm-based scaling: scale a residual as the inner optimizer scaled the low-rank part.

  Each leaf of ``updates`` is a residual matrix :math:`S` of shape ``(a, b)``; the extra
  arguments ``low_rank_grads`` :math:`R` and ``low_rank_updates`` :math:`N` hold, at the same
  leaves, matrices of shape ``(a, r)`` (the rank axis last). With ``mode="channel"`` (the
  official code) each row gets its own factor,

  .. math::
    \phi_i = \frac{\lVert N_{i,:} \rVert}{\lVert R_{i,:} \rVert + \epsilon}, \qquad
    S_{i,:} \leftarrow \phi_i \, S_{i,:},

  with ``mode="matrix"`` (the paper's Algorithm 1) one Frobenius-norm factor per matrix, and
  with ``mode="none"`` the residual is left as it is (the "w/o scaling" ablation). Leaves of
  ``updates`` that are ``optax.MaskedNode``/``None`` are skipped.

  The low-rank projection orients every matrix so that the rank axis is last, so a right
  projection (:math:`R = G V_r`, ``(m, r)``) scales rows of G and a left projection
  (:math:`R = U_r^\top G`, stored transposed as ``(n, r)``) scales columns of G, as the
  official per-column/per-row rule does.

  Args:
    mode: ``"channel"``, ``"matrix"`` or ``"none"``.
    eps: added to :math:`\lVert R \rVert` (``1e-8`` officially).

  Returns:
    A stateless ``optax.GradientTransformationExtraArgs``; its ``update`` requires the keyword
    arguments ``low_rank_grads`` and ``low_rank_updates``.
  """
  if mode not in NORM_SCALINGS:
    raise ValueError(f"`norm_scaling` must be one of {NORM_SCALINGS}, got {mode!r}")

  def init_fn(params):
    del params
    return optax.EmptyState()

  def update_fn(updates, state, params=None, *, low_rank_grads=None, low_rank_updates=None, **_):
    del params
    if mode == "none":
      return updates, state
    if low_rank_grads is None or low_rank_updates is None:
      raise ValueError(
        "scale_by_norm_ratio needs the keyword arguments `low_rank_grads` and `low_rank_updates`"
      )
    axis, keep = (-1, True) if mode == "channel" else (None, False)

    def scale(s, r, n):
      phi = _f32_norm(n, axis, keep) / (_f32_norm(r, axis, keep) + eps)
      return (s.astype(jnp.float32) * phi).astype(s.dtype)

    return jax.tree.map(scale, updates, low_rank_grads, low_rank_updates), state

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


class LimitNormGrowthState(NamedTuple):
  """State of :func:`limit_norm_growth`.

  Attributes:
    count: number of updates seen (the first one only records its norm).
    last_norm: per leaf, a float32 scalar: the norm of the previous (limited) update.
  """

  count: jax.Array  # shape=(), int32
  last_norm: optax.Updates


def limit_norm_growth(
  gamma: chex.Numeric = 1.01, *, eps: chex.Numeric = 1e-8
) -> optax.GradientTransformation:
  r"""Fira's norm-growth limiter: an update's norm may grow by at most a factor :math:`\gamma`.

  Leaf by leaf, with :math:`\mathrm{ref}` the norm of the previous (limited) update:

  .. math::
    \rho_t = \frac{\max\big(\lVert S_t \rVert / (\mathrm{ref} + \epsilon), \gamma\big)}{\gamma},
    \qquad S_t \leftarrow S_t / \rho_t, \qquad \mathrm{ref} \leftarrow \lVert S_t \rVert.

  The first update passes unchanged and sets the reference. So
  :math:`\lVert S_t \rVert \le \gamma \lVert S_{t-1} \rVert` (up to :math:`\epsilon`). Unlike
  gradient clipping it needs no absolute threshold. It works on any update tree, e.g.
  ``optax.chain(optax.scale_by_adam(), limit_norm_growth())``.

  Args:
    gamma: the largest allowed growth factor per step, :math:`\gamma \ge 1`.
    eps: added to the reference norm.

  Returns:
    An ``optax.GradientTransformation`` keeping one float32 scalar per leaf.
  """
  if isinstance(gamma, (int, float)) and not gamma >= 1.0:
    raise ValueError(f"`gamma` must be >= 1 (the largest norm growth per step), got {gamma!r}")

  def init_fn(params):
    last = jax.tree.map(lambda _: jnp.zeros([], jnp.float32), params)
    return LimitNormGrowthState(count=jnp.zeros([], jnp.int32), last_norm=last)

  def update_fn(updates, state, params=None):
    del params
    first = state.count == 0
    g = jnp.asarray(gamma, jnp.float32)

    norms = jax.tree.map(_f32_norm, updates)
    rhos = jax.tree.map(
      lambda n, ref: jnp.where(first, 1.0, jnp.maximum(n / (ref + eps), g) / g),
      norms,
      state.last_norm,
    )
    new_updates = jax.tree.map(
      lambda u, r: (u.astype(jnp.float32) / r).astype(u.dtype), updates, rhos
    )
    new_norms = jax.tree.map(jnp.divide, norms, rhos)
    return new_updates, LimitNormGrowthState(optax.safe_increment(state.count), new_norms)

  return optax.GradientTransformation(init_fn, update_fn)


# Residual transforms built by `fira_residual`, by their update function: the low-rank
# projection computes these fused (one back-projection instead of two).
_FUSABLE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def fira_residual(
  norm_scaling: str = "channel", gamma: chex.Numeric | None = 1.01, *, eps: float = 1e-8
) -> optax.GradientTransformationExtraArgs:
  r"""Fira's residual branch: norm-ratio scaling then the growth limiter, computed fused.

  It is ``chain(scale_by_norm_ratio(norm_scaling), limit_norm_growth(gamma))``. Given to
  :func:`scale_by_low_rank_projection` as ``residual_transform``, it is computed fused: with
  :math:`B` the orthonormal basis (:math:`B^\top B = I`), :math:`X` the oriented gradient,
  :math:`R = XB` and :math:`c` the subtracted scale, each row of
  :math:`S = \phi \odot (X - c R B^\top)` has

  .. math::
    \lVert S_i \rVert^2 = \phi_i^2 \big(\lVert X_i \rVert^2 - (2c - c^2) \lVert R_i \rVert^2\big),

  so the limiter's :math:`\rho` is known before :math:`S` exists and the update is one
  back-projection, :math:`\tfrac{\phi}{\rho} \odot X + (\alpha N - c \tfrac{\phi}{\rho}
  \odot R) B^\top`, instead of two. For a low-precision basis (e.g. bfloat16, where
  :math:`B^\top B \ne I` to working precision) the row norms add the correction
  :math:`R (B^\top B - I) R^\top` (two rank-sized products), so the update is still one
  back-projection. State and results are those of the unfused chain (tested against it, in
  float32 and bfloat16, and against the official trajectories).

  Args:
    norm_scaling: ``"channel"``, ``"matrix"`` or ``"none"`` (see :func:`scale_by_norm_ratio`).
    gamma: the limiter's :math:`\gamma`, or ``None`` for no limiter.
    eps: the :math:`\epsilon` of both pieces (``1e-8`` officially).

  Returns:
    An ``optax.GradientTransformationExtraArgs`` (usable unfused anywhere else).
  """
  parts = [scale_by_norm_ratio(norm_scaling, eps=eps)]
  if gamma is not None:
    parts.append(limit_norm_growth(gamma, eps=eps))
  tx = optax.chain(*parts)
  _FUSABLE[tx.update] = (norm_scaling, gamma, eps)
  return tx


def fusion_spec(tx: optax.GradientTransformation | None):
  """``(norm_scaling, gamma, eps)`` if ``tx`` was built by :func:`fira_residual`, else None."""
  if tx is None:
    return None
  try:
    return _FUSABLE.get(tx.update)
  except TypeError:
    return None
