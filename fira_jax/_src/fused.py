"""Fused computation of Fira's residual branch inside the low-rank projection.

See :func:`fira_jax.fira_residual` for the identity it rests on. Matrices here are oriented
with the projected side first: ``x`` is ``(a, b)``, ``r`` and ``n`` are ``(a, r)``, ``basis``
is ``(b, r)`` with orthonormal columns, and the back-projection is ``y @ basis.T``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _row_sq(x: jax.Array) -> jax.Array:
  return jnp.sum(jnp.square(x), axis=-1, keepdims=True)


def fira_leaf(x, r, n, basis, last_norm, first, *, alpha, sub, mode, gamma, eps):
  """One projected matrix: returns ``(alpha * back(n) + S / rho, ||S|| / rho)``, float32.

  Args:
    x: oriented gradient ``(a, b)``.
    r: low-rank gradient ``x @ basis``, ``(a, r)``.
    n: the inner optimizer's update of ``r``, ``(a, r)``.
    basis: ``(b, r)``.
    last_norm: the limiter's reference (float32 scalar); unused without a limiter.
    first: whether this is the limiter's first step (bool scalar).
    alpha: scale of the back-projected update.
    sub: scale of the subtracted part of the residual (``alpha`` officially, 1 in the paper).
    mode: ``"channel"``, ``"matrix"`` or ``"none"``.
    gamma: the limiter's gamma or ``None``.
    eps: epsilon of the norm ratio and of the limiter.
  """
  f32 = jnp.float32
  x, r, n = x.astype(f32), r.astype(f32), n.astype(f32)
  r_sq = _row_sq(r)
  if mode == "channel":
    phi = jnp.sqrt(_row_sq(n)) / (jnp.sqrt(r_sq) + eps)
  elif mode == "matrix":
    phi = jnp.sqrt(jnp.sum(jnp.square(n))) / (jnp.sqrt(jnp.sum(r_sq)) + eps)
  else:
    phi = jnp.ones((), f32)
  exact = basis.dtype == jnp.float32
  b = basis.astype(f32)
  if exact:
    rows = jnp.maximum(_row_sq(x) - (2.0 * sub - sub * sub) * r_sq, 0.0)
    s_norm = jnp.sqrt(jnp.sum(jnp.square(phi) * rows))
  else:  # no orthonormality to rely on at this precision: materialise S
    s = phi * (x - sub * (r @ b.T))
    s_norm = jnp.sqrt(jnp.sum(jnp.square(s)))
  if gamma is None:
    rho = jnp.ones((), f32)
  else:
    g = jnp.asarray(gamma, f32)
    rho = jnp.where(first, 1.0, jnp.maximum(s_norm / (last_norm + eps), g) / g)
  if exact:
    w = phi / rho
    out = w * x + (alpha * n - sub * w * r) @ b.T
  else:
    out = alpha * (n @ b.T) + s / rho
  return out, s_norm / rho
