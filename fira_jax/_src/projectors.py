"""Projector functions: orthonormal bases of a gradient's dominant subspaces.

A projector function has the signature ``projector_fn(grad_2d, rank, step) -> (u_r, v_r)``:
given a gradient matrix ``G`` of shape ``(m, n)`` (float32), the static ``rank`` r and the
(traced) step count, it returns orthonormal bases as columns, ``u_r`` of shape ``(m, r)``
spanning the dominant column space and ``v_r`` of shape ``(n, r)`` spanning the dominant row
space. The low-rank projection uses the one its side needs; XLA removes the other when it is
unused. Any function of that signature works, e.g. one returning recorded bases.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

ProjectorFn = Callable[[jax.Array, int, jax.Array], tuple[jax.Array, jax.Array]]


def svd_projector(grad_2d: jax.Array, rank: int, step: jax.Array) -> tuple[jax.Array, jax.Array]:
  r"""Exact truncated SVD: the official GaLore/Fira projector.

  .. math::
    G = U S V^\top, \qquad u_r = U_{:, :r}, \qquad v_r = V_{:, :r}

  The decomposition runs in float32 whatever the gradient's dtype (as the official code).

  Args:
    grad_2d: gradient matrix, shape ``(m, n)``.
    rank: number of singular vectors kept, ``r <= min(m, n)``.
    step: the optimizer step (unused; part of the projector signature).

  Returns:
    ``(u_r, v_r)`` of shapes ``(m, r)`` and ``(n, r)``, float32.
  """
  del step
  u, _, vh = jnp.linalg.svd(grad_2d.astype(jnp.float32), full_matrices=False)
  return u[:, :rank], vh[:rank, :].T


def randomized_svd_projector(
  *, oversample: int = 8, power_iters: int = 2, seed: int = 0
) -> ProjectorFn:
  r"""Randomized truncated SVD (range finder, Halko, Martinsson & Tropp 2011).

  With :math:`k = \min(r + p, m, n)` (p = ``oversample``) and a Gaussian test matrix
  :math:`\Omega \in \mathbb{R}^{n \times k}` drawn from ``fold_in(PRNGKey(seed), step)``:

  .. math::
    Q = \mathrm{orth}\big((G G^\top)^q G \Omega\big), \quad
    Q^\top G = \tilde U S V^\top, \quad u_r = (Q \tilde U)_{:, :r}, \quad v_r = V_{:, :r}

  with q = ``power_iters`` re-orthonormalised power iterations. It costs
  :math:`O(mnk(2q + 2))` instead of the exact SVD's :math:`O(mn\min(m, n))` and is exact when
  ``rank(G) <= k``. The result is deterministic given ``seed`` and the step.

  Args:
    oversample: extra columns p of the test matrix.
    power_iters: number q of power iterations (sharpen a slowly decaying spectrum).
    seed: seed of the test matrices.

  Returns:
    A projector function ``(grad_2d, rank, step) -> (u_r, v_r)``.

  Examples:
    >>> import fira_jax
    >>> tx = fira_jax.fira(1e-2, rank=8, projector_fn=fira_jax.randomized_svd_projector())
  """
  if not isinstance(oversample, int) or oversample < 0:
    raise ValueError(f"`oversample` must be a non-negative int, got {oversample!r}")
  if not isinstance(power_iters, int) or power_iters < 0:
    raise ValueError(f"`power_iters` must be a non-negative int, got {power_iters!r}")

  def projector_fn(grad_2d, rank, step):
    g = grad_2d.astype(jnp.float32)
    m, n = g.shape
    k = min(rank + oversample, m, n)
    key = jax.random.fold_in(jax.random.PRNGKey(seed), step)
    omega = jax.random.normal(key, (n, k), jnp.float32)
    q, _ = jnp.linalg.qr(g @ omega)
    for _ in range(power_iters):
      z, _ = jnp.linalg.qr(g.T @ q)
      q, _ = jnp.linalg.qr(g @ z)
    u_small, _, vh = jnp.linalg.svd(q.T @ g, full_matrices=False)
    return (q @ u_small)[:, :rank], vh[:rank, :].T

  return projector_fn
