"""Projector functions: orthonormal bases of a gradient's dominant subspaces.

A projector function has the signature ``projector_fn(grad_2d, rank, step) -> (u_r, v_r)``:
given a gradient matrix ``G`` of shape ``(m, n)`` (float32), the static ``rank`` r and the
(traced) step count, it returns orthonormal bases as columns, ``u_r`` of shape ``(m, r)``
spanning the dominant column space and ``v_r`` of shape ``(n, r)`` spanning the dominant row
space. The low-rank projection uses the one its side needs; XLA removes the other when it is
unused. Any function of that signature works, e.g. one returning recorded bases.

Built in: :func:`svd_projector` (the official exact SVD, the default), :func:`eigh_projector`
(the same subspaces from the smaller Gram matrix's eigensolver, ~5× faster on a CPU) and
:func:`randomized_svd_projector` (a randomized range finder, faster still at low rank).
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


def _smaller_side_first(g: jax.Array) -> tuple[jax.Array, bool]:
  """``(a, wide)`` with ``a`` = ``g`` if ``wide`` (m <= n) else ``g.T``: ``a`` is (s, b), s <= b."""
  wide = g.shape[0] <= g.shape[1]
  return (g if wide else g.T), wide


def _top_eigvecs(gram: jax.Array, k: int) -> jax.Array:
  """The ``k`` eigenvectors of a symmetric PSD matrix with the largest eigenvalues, descending."""
  _, vecs = jnp.linalg.eigh(gram)  # ascending eigenvalues
  return vecs[:, ::-1][:, :k]


def _canonical_signs(basis: jax.Array) -> jax.Array:
  """Flips each column so its entry of largest magnitude is positive.

  Eigenvectors and singular vectors have arbitrary signs. The low-rank moments carry over a
  refresh, so a basis whose signs changed at random (e.g. with a new random sketch) would
  flip the sign of their coordinates; canonical signs follow the subspace instead.
  """
  idx = jnp.argmax(jnp.abs(basis), axis=0)
  signs = jnp.sign(jnp.take_along_axis(basis, idx[None, :], axis=0))
  return basis * jnp.where(signs == 0, 1.0, signs).astype(basis.dtype)


def _other_side(a: jax.Array, top: jax.Array) -> jax.Array:
  r"""Orthonormal basis of :math:`\mathrm{span}(a^\top t)`, shape ``(b, r)``.

  The columns :math:`a^\top t_i` are orthogonal with norms :math:`\sigma_i`, so Householder QR
  returns them normalised, in order; it stays orthonormal where :math:`\sigma_i = 0` (a
  rank-deficient gradient), where dividing by :math:`\sigma_i` would not.
  """
  q, _ = jnp.linalg.qr(a.T @ top)
  return _canonical_signs(q)


def eigh_projector(grad_2d: jax.Array, rank: int, step: jax.Array) -> tuple[jax.Array, jax.Array]:
  r"""Exact dominant subspaces from the eigendecomposition of the smaller Gram matrix.

  With :math:`A` the gradient oriented so its first side is the smaller one (:math:`s \le b`):

  .. math::
    A A^\top = U \Lambda U^\top \ (\Lambda \text{ descending}), \qquad
    u_r = U_{:, :r}, \qquad v_r = \mathrm{orth}(A^\top u_r)

  which spans the same subspaces as the truncated SVD (:math:`\Lambda = S^2`). One
  :math:`s \times s` symmetric eigensolver instead of an :math:`m \times n` SVD: about 5× faster
  on a CPU for LLaMA shapes (``benchmarks/results/fira/optimizer.md``). Squaring the spectrum costs
  accuracy only in directions with :math:`\sigma_i^2 < \epsilon\,\sigma_1^2` (float32
  :math:`\epsilon \approx 1.2\cdot10^{-7}`), which hold less than that share of the gradient's
  energy. Signs and, within repeated singular values, rotations differ from the SVD's (as two
  SVD implementations differ); the subspaces agree.

  Args:
    grad_2d: gradient matrix, shape ``(m, n)``.
    rank: number of directions kept, ``r <= min(m, n)``.
    step: the optimizer step (unused; part of the projector signature).

  Returns:
    ``(u_r, v_r)`` of shapes ``(m, r)`` and ``(n, r)``, float32. Only the side a projection
    uses is computed under ``jit`` (XLA removes the other).
  """
  del step
  a, wide = _smaller_side_first(grad_2d.astype(jnp.float32))
  top = _canonical_signs(_top_eigvecs(a @ a.T, rank))
  other = _other_side(a, top)
  return (top, other) if wide else (other, top)


def randomized_svd_projector(
  *, oversample: int = 8, power_iters: int = 2, seed: int = 0
) -> ProjectorFn:
  r"""Randomized truncated SVD (range finder, Halko, Martinsson & Tropp 2011).

  With :math:`A` the gradient oriented so its first side is the smaller one (:math:`s \le b`),
  :math:`k = \min(r + p, s)` (p = ``oversample``) and a Gaussian test matrix
  :math:`\Omega \in \mathbb{R}^{b \times k}` drawn from ``fold_in(PRNGKey(seed), step)``:

  .. math::
    Q_0 = \mathrm{orth}(A \Omega), \quad Q_{j+1} = \mathrm{orth}(A A^\top Q_j)\ (j < q), \quad
    B = Q_q^\top A, \quad B B^\top = W \Lambda W^\top, \quad
    u_r = Q_q W_{:, :r}, \quad v_r = \mathrm{orth}(B^\top W_{:, :r})

  with q = ``power_iters``. It costs :math:`O(s b k (2q + 2))` flops (GEMMs) plus QRs of
  :math:`s \times k` matrices and one :math:`k \times k` eigensolver, instead of the exact
  SVD's :math:`O(s^2 b)` with a LAPACK SVD: 9–11× faster than :func:`svd_projector` at
  2048 × 5461 with r = 128, ~5× with r = 512 (``benchmarks/results/fira/optimizer.md``). It is exact
  when ``rank(G) <= k``, and when :math:`k = s` it is :func:`eigh_projector`. The power
  iterations orthonormalise only on the smaller side (one QR each): rounding then blurs only
  directions with :math:`\sigma_i^2 < \epsilon\,\sigma_1^2`, which hold less than that share of
  the energy. The result is deterministic given ``seed`` and the step.

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
  if isinstance(oversample, bool) or not isinstance(oversample, int) or oversample < 0:
    raise ValueError(f"`oversample` must be a non-negative int, got {oversample!r}")
  if isinstance(power_iters, bool) or not isinstance(power_iters, int) or power_iters < 0:
    raise ValueError(f"`power_iters` must be a non-negative int, got {power_iters!r}")

  def projector_fn(grad_2d, rank, step):
    a, wide = _smaller_side_first(grad_2d.astype(jnp.float32))
    s, b = a.shape
    k = min(rank + oversample, s)
    if k == s:  # the sketch would span the whole smaller side: the exact route is cheaper
      return eigh_projector(grad_2d, rank, step)
    key = jax.random.fold_in(jax.random.PRNGKey(seed), step)
    omega = jax.random.normal(key, (b, k), jnp.float32)
    q, _ = jnp.linalg.qr(a @ omega)
    for _ in range(power_iters):
      q, _ = jnp.linalg.qr(a @ (a.T @ q))
    small = q.T @ a  # (k, b)
    w = _top_eigvecs(small @ small.T, rank)
    top = _canonical_signs(q @ w)
    other = _other_side(small, w)
    return (top, other) if wide else (other, top)

  return projector_fn
