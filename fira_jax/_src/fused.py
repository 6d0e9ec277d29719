"""Fused computation of Fira's residual branch inside the low-rank projection.

See :func:`fira_jax.fira_residual` for the identity it rests on. The gradient matrix ``x`` is
used as stored, ``(m, n)``, never transposed (a transposed copy of a full-size matrix costs a
memory pass of its own): a right projection has ``basis`` ``(n, r)``, ``R = x @ basis``
``(m, r)``, one channel per row, back-projection ``y @ basis.T``; a left one has ``basis``
``(m, r)``, ``R = basis.T @ x`` ``(r, n)``, one channel per column, back-projection
``basis @ y``. ``axis`` is the axis a channel's norm runs over, the same for ``x`` and ``R``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _sq(x: jax.Array, axis: int) -> jax.Array:
  return jnp.sum(jnp.square(x), axis=axis, keepdims=True)


def fira_leaf(x, r, n, basis, last_norm, first, *, side, alpha, sub, mode, gamma, eps, r_acc=None):
  r"""One projected matrix: returns ``(alpha * back(n) + S / rho, ||S|| / rho)``, float32.

  Args:
    x: the gradient matrix ``(m, n)``.
    r: low-rank gradient as the inner optimizer saw it: ``(m, r)`` (right) or ``(r, n)`` (left).
    n: the inner optimizer's update of ``r``, same shape.
    basis: ``(n, r)`` (right) or ``(m, r)`` (left).
    last_norm: the limiter's reference (float32 scalar); unused without a limiter.
    first: whether this is the limiter's first step (bool scalar).
    side: ``"right"`` or ``"left"``.
    alpha: scale of the back-projected update.
    sub: scale of the subtracted part of the residual (``alpha`` officially, 1 in the paper).
    mode: ``"channel"``, ``"matrix"`` or ``"none"``.
    gamma: the limiter's gamma or ``None``.
    eps: epsilon of the norm ratio and of the limiter.
    r_acc: the projection accumulated in float32 before ``r`` was rounded to a low-precision
      dtype (defaults to ``r``).

  A float32 basis is orthonormal to working precision, so
  :math:`\lVert X_i - cR_iB^\top\rVert^2 = \lVert X_i\rVert^2 - (2c - c^2)\lVert R_i\rVert^2`.
  A low-precision (e.g. bfloat16) basis is not: with :math:`E = B^\top B - I` (float32,
  ``(r, r)``) and :math:`\tilde R` the float32-accumulated projection, the exact row norms of
  the residual as the unfused chain forms it are

  .. math::
    \lVert X_i\rVert^2 - 2c\,R_i\cdot\tilde R_i + c^2\big(\lVert R_i\rVert^2
    + R_i E R_i^\top\big),

  which costs two ``r``-sized products instead of materialising ``S``. Either way the update
  is one back-projection, in the basis' dtype with float32 accumulation (tensor cores on a GPU).
  """
  f32 = jnp.float32
  low = basis.dtype
  exact = low == f32
  axis = 1 if side == "right" else 0
  x, r, n = x.astype(f32), r.astype(f32), n.astype(f32)
  r_acc = r if r_acc is None else r_acc.astype(f32)
  r_sq = _sq(r, axis)
  if mode == "channel":
    phi = jnp.sqrt(_sq(n, axis)) / (jnp.sqrt(r_sq) + eps)
  elif mode == "matrix":
    phi = jnp.sqrt(jnp.sum(jnp.square(n))) / (jnp.sqrt(jnp.sum(r_sq)) + eps)
  else:
    phi = jnp.ones((), f32)
  x_sq = _sq(x, axis)
  if exact:
    rows = x_sq - (2.0 * sub - sub * sub) * r_sq
  else:
    gram_err = jnp.matmul(basis.T, basis, preferred_element_type=f32) - jnp.eye(
      basis.shape[1], dtype=f32
    )
    a, b = (r.astype(low), gram_err.astype(low))
    r_e = jnp.matmul(*((a, b) if side == "right" else (b, a)), preferred_element_type=f32)
    quad = r_sq + jnp.sum(r * r_e, axis=axis, keepdims=True)
    cross = jnp.sum(r * r_acc, axis=axis, keepdims=True)
    rows = x_sq - 2.0 * sub * cross + sub * sub * quad
  rows = jnp.maximum(rows, 0.0)
  s_norm = jnp.sqrt(jnp.sum(jnp.square(phi) * rows))
  if gamma is None:
    rho = jnp.ones((), f32)
  else:
    g = jnp.asarray(gamma, f32)
    rho = jnp.where(first, 1.0, jnp.maximum(s_norm / (last_norm + eps), g) / g)
  w = phi / rho
  coef = alpha * n - sub * w * r  # the shape of r
  if not exact:
    coef = coef.astype(low)
  back = coef @ basis.T if side == "right" else basis @ coef
  return w * x + back.astype(f32), s_norm / rho
