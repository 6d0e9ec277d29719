"""APOLLO and APOLLO-Mini: Adam-like scaling of the full gradient from a random low-rank space."""

from __future__ import annotations

from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from fira_jax._src import adam
from fira_jax._src import dimension_numbers as dn
from fira_jax._src import residual as res
from fira_jax._src.alias import _check_common
from fira_jax._src.projection import (
  PROJ_TYPES,
  _orient,
  _replicated,
  is_info,
  projected_leaves,
)
from fira_jax._src.projectors import ProjectorFn

# APOLLO's names of the scaling granularity -> the modes of `scale_by_norm_ratio`.
SCALE_TYPES = {"channel": "channel", "tensor": "matrix"}


class ScaleByApolloState(NamedTuple):
  """State of :func:`scale_by_apollo`.

  Attributes:
    count: number of updates taken, int32 scalar.
    projector: per projected leaf, the random projection in use: ``(n, r)`` (:math:`P^\\top`)
      for a right projection, ``(m, r)`` (:math:`P`) for a left one; ``optax.MaskedNode()`` at
      leaves that are not projected.
    base_optimizer_state: state of the inner optimizer, which sees the low-rank ``R`` at
      projected leaves and the full gradient elsewhere.
    scaling_state: state of the scaling of the full gradient (the growth limiter's reference).
  """

  count: jax.Array
  projector: optax.Params
  base_optimizer_state: optax.OptState
  scaling_state: optax.OptState


def _check_apollo(rank, update_proj_gap, scale, scale_type, proj_type, seed):
  if isinstance(rank, bool) or not isinstance(rank, int):
    raise TypeError(f"`rank` must be an int, got {type(rank).__name__}")
  if rank <= 0:
    raise ValueError(f"`rank` must be positive, got {rank}")
  if isinstance(update_proj_gap, (int, float)) and not (
    update_proj_gap > 0 and float(update_proj_gap).is_integer()
  ):
    raise ValueError(f"`update_proj_gap` must be a positive integer, got {update_proj_gap!r}")
  if isinstance(scale, (int, float)) and not scale > 0:
    raise ValueError(f"`scale` must be positive, got {scale!r}")
  if scale_type not in SCALE_TYPES:
    raise ValueError(f"`scale_type` must be one of {tuple(SCALE_TYPES)}, got {scale_type!r}")
  if proj_type not in PROJ_TYPES:
    raise ValueError(f"`proj_type` must be one of {PROJ_TYPES}, got {proj_type!r}")
  if isinstance(seed, bool) or not isinstance(seed, int):
    raise TypeError(f"`seed` must be an int, got {type(seed).__name__}")


def scale_by_apollo(
  rank: int = 256,
  update_proj_gap: chex.Numeric = 200,
  *,
  scale: chex.Numeric = 1.0,
  scale_type: str = "channel",
  base_optimizer: optax.GradientTransformation | None = None,
  gamma: chex.Numeric | None = 1.01,
  scale_front: bool = False,
  proj_type: str = "std",
  projector_fn: ProjectorFn | None = None,
  seed: int = 0,
  weight_dimension_numbers: dn.DimNumsOrFn = None,
) -> optax.GradientTransformationExtraArgs:
  r"""Scales each projected gradient as Adam scaled its random low-rank projection (APOLLO).

  A projected leaf is viewed as an ``(m, n)`` matrix ``G`` (``weight_dimension_numbers``).
  Every ``update_proj_gap`` steps (t = 0, T, 2T, ...) its projection is redrawn; in between it
  is kept and the inner optimizer's state is never reset. By default the projection is
  Gaussian, :math:`P_{ij} \sim \mathcal{N}(0, 1/r)` (not orthonormalised), drawn from
  ``fold_in(fold_in(key(seed), leaf), t)`` with ``leaf`` the leaf's index in the tree: it is a
  function of the seed, the leaf and the step, and lives in the state. With
  :math:`r = \min(\text{rank}, m, n)`, :math:`N` the inner optimizer's update of :math:`R`
  and :math:`s` = ``scale``:

  .. math::
    \text{right: } R &= G P^\top \in \mathbb{R}^{m \times r}; \qquad
    \text{left: } R = P^\top G \in \mathbb{R}^{r \times n} \\
    \phi &= \lVert N \rVert / (\lVert R \rVert + 10^{-8}) \quad
      \text{(along the rank axis; one Frobenius ratio for } \texttt{"tensor"}) \\
    S_t &= \phi \odot G, \quad
    S_t \leftarrow S_t / \big(\max(\lVert S_t \rVert / \lVert S_{t-1} \rVert, \gamma)/\gamma\big),
    \quad \text{output} = \sqrt{s}\, S_t.

  ``scale_type="channel"`` gives one factor per row of ``G`` (right projection) or per column
  (left), ``"tensor"`` one factor per matrix (APOLLO-Mini). The limiter is Fira's
  (:func:`limit_norm_growth`, ``gamma=None`` removes it); :math:`\sqrt{s}` is applied after it,
  or before it with ``scale_front=True``. Leaves that are not projected get the inner
  optimizer's update of the full gradient.

  Side rules (``proj_type``) as in :func:`scale_by_low_rank_projection`: ``"std"`` (official:
  right if m >= n, else left; the same update for an ``(out, in)`` and an ``(in, out)``
  layout), ``"reverse_std"``, ``"left"``, ``"right"`` (the official code supports ``std``
  only). Per projected leaf the state holds the projection (``n*r`` or ``m*r``), the inner
  optimizer's state of the ``(m, r)``/``(r, n)`` matrix and one float32 limiter scalar.

  Args:
    rank: target rank r (an ``int`` > 0; clamped to ``min(m, n)`` per leaf, where the
      official code would draw a taller projection).
    update_proj_gap: refresh period T of the projections (``int`` > 0 or an array).
    scale: :math:`s`; the output is scaled by :math:`\sqrt{s}` as in the official code.
    scale_type: ``"channel"`` (APOLLO) or ``"tensor"`` (APOLLO-Mini).
    base_optimizer: the inner gradient-only transform; default
      :func:`scale_by_adam_moments` (the official un-bias-corrected Adam direction).
    gamma: the limiter's :math:`\gamma \ge 1`, or ``None`` for no limiter.
    scale_front: apply :math:`\sqrt{s}` before the limiter instead of after it.
    proj_type: ``"std"``, ``"reverse_std"``, ``"left"`` or ``"right"``.
    projector_fn: ``None`` (the seeded Gaussian above) or ``(grad_2d, rank, step) -> (u, v)``
      as for :func:`scale_by_low_rank_projection` (right uses ``v`` = :math:`P^\top`, left
      ``u`` = :math:`P`), e.g. a function returning recorded projections.
    seed: seed of the Gaussian projections.
    weight_dimension_numbers: as in ``optax.contrib.galore`` (default: every 2-D leaf).

  Returns:
    An ``optax.GradientTransformationExtraArgs``.
  """
  _check_apollo(rank, update_proj_gap, scale, scale_type, proj_type, seed)
  if base_optimizer is None:
    base_optimizer = adam.scale_by_adam_moments()
  root = optax.scale(scale**0.5)
  parts = [res.scale_by_norm_ratio(SCALE_TYPES[scale_type])]
  parts += [root] if scale_front else []
  parts += [res.limit_norm_growth(gamma)] if gamma is not None else []
  parts += [] if scale_front else [root]
  scaling = optax.chain(*parts)

  def leaves_info(params) -> Any:
    return projected_leaves(weight_dimension_numbers, params, rank, proj_type)

  def masked(fn):
    """Applies ``fn(info, *leaves)`` at projected leaves; MaskedNode elsewhere."""

    def leaf(info, *xs):
      return optax.MaskedNode() if info is None else fn(info, *xs)

    return leaf

  def init_fn(params):
    infos = leaves_info(params)

    def projection(info, p):
      size = info.view.n if info.side == "right" else info.view.m
      return jnp.zeros((size, info.rank), p.dtype)

    def proxy(info, p):  # what the inner optimizer sees
      if info is None:
        return p
      v = info.view
      return jnp.zeros((v.m, info.rank) if info.side == "right" else (info.rank, v.n), p.dtype)

    def oriented(info, p):  # shape only: the scaling keeps no per-element state
      v = info.view
      return jax.ShapeDtypeStruct((v.m, v.n) if info.side == "right" else (v.n, v.m), p.dtype)

    return ScaleByApolloState(
      count=jnp.zeros([], jnp.int32),
      projector=jax.tree.map(masked(projection), infos, params, is_leaf=is_info),
      base_optimizer_state=base_optimizer.init(jax.tree.map(proxy, infos, params, is_leaf=is_info)),
      scaling_state=scaling.init(jax.tree.map(masked(oriented), infos, params, is_leaf=is_info)),
    )

  def update_fn(updates, state, params=None, **extra_args):
    del params, extra_args
    infos = leaves_info(updates)
    count = state.count
    refresh = count % jnp.asarray(update_proj_gap, count.dtype) == 0
    indices = jax.tree.unflatten(
      jax.tree.structure(infos, is_leaf=is_info),
      range(len(jax.tree.leaves(infos, is_leaf=is_info))),
    )

    def redraw(info, index, g, basis):
      def draw():
        if projector_fn is None:
          key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), index), count)
          z = jax.random.normal(key, basis.shape, jnp.float32)
          return (z / jnp.sqrt(jnp.float32(info.rank))).astype(basis.dtype)
        g2 = _replicated(info.view.to_matrix(g).astype(jnp.float32))
        u, v = projector_fn(g2, info.rank, count)
        return (v if info.side == "right" else u).astype(basis.dtype)

      return jax.lax.cond(refresh, draw, lambda: basis)

    def project(info, g, basis):
      if info is None:
        return g
      g2 = info.view.to_matrix(g)
      return g2 @ basis if info.side == "right" else basis.T @ g2

    def orient(info, x):
      return _orient(info.side, x)

    projectors = jax.tree.map(
      masked(redraw), infos, indices, updates, state.projector, is_leaf=is_info
    )
    low_rank = jax.tree.map(project, infos, updates, projectors, is_leaf=is_info)
    inner, base_state = base_optimizer.update(low_rank, state.base_optimizer_state, None)
    full = jax.tree.map(
      masked(lambda info, g: orient(info, info.view.to_matrix(g))), infos, updates, is_leaf=is_info
    )
    scaled, scaling_state = scaling.update(
      full,
      state.scaling_state,
      None,
      low_rank_grads=jax.tree.map(masked(orient), infos, low_rank, is_leaf=is_info),
      low_rank_updates=jax.tree.map(masked(orient), infos, inner, is_leaf=is_info),
    )

    def combine(info, g, n, s):
      if info is None:
        return n.astype(g.dtype)
      return info.view.from_matrix(orient(info, s)).astype(g.dtype)

    out = jax.tree.map(combine, infos, updates, inner, scaled, is_leaf=is_info)
    return out, ScaleByApolloState(
      count=optax.safe_increment(count),
      projector=projectors,
      base_optimizer_state=base_state,
      scaling_state=scaling_state,
    )

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def apollo(
  learning_rate: optax.ScalarOrSchedule,
  rank: int = 256,
  *,
  update_proj_gap: chex.Numeric = 200,
  scale: chex.Numeric = 1.0,
  scale_type: str = "channel",
  b1: chex.Numeric = 0.9,
  b2: chex.Numeric = 0.999,
  eps: chex.Numeric = 1e-6,
  weight_decay: chex.Numeric = 0.0,
  mask: Any | None = None,
  scale_front: bool = False,
  gamma: chex.Numeric | None = 1.01,
  proj_type: str = "std",
  projector_fn: ProjectorFn | None = None,
  seed: int = 0,
  weight_dimension_numbers: dn.DimNumsOrFn = None,
  mu_dtype: Any | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""APOLLO: AdamW-like training with SGD-like memory, from a random low-rank projection.

  For a projected matrix with gradient :math:`G_t`, a Gaussian random projection :math:`P`
  (redrawn every ``update_proj_gap`` steps, see :func:`scale_by_apollo`) and
  :math:`R_t` the low-rank gradient, the official ``APOLLOAdamW`` computes

  .. math::
    M_t &= \beta_1 M_{t-1} + (1-\beta_1) R_t, \quad
    V_t = \beta_2 V_{t-1} + (1-\beta_2) R_t^2, \quad
    N_t = M_t / (\sqrt{V_t} + \epsilon) \\
    \phi_t &= \lVert N_t \rVert / (\lVert R_t \rVert + 10^{-8}) \quad
      \text{(per channel along the rank axis, or per tensor)} \\
    S_t &= \phi_t \odot G_t, \quad
    S_t \leftarrow S_t / \big(\max(\lVert S_t\rVert / \lVert S_{t-1}\rVert, \gamma)/\gamma\big) \\
    W &\leftarrow W - \eta_t \tfrac{\sqrt{1-\beta_2^{t+1}}}{1-\beta_1^{t+1}}\,
      \sqrt{s}\, S_t, \qquad W \leftarrow W - \eta_t \lambda W.

  Unlike Fira, the whole raw gradient is rescaled (nothing is back-projected), so the
  projection only has to estimate the scaling: a random one, with no SVD, suffices. Leaves
  that are not projected take the same AdamW without projection. With the defaults this is
  exactly the official ``apollo-torch==1.0.3`` ``APOLLOAdamW`` (``proj="random"``,
  ``proj_type="std"``), except that its random numbers come from JAX's generator. It is the
  chain

  ``scale_by_apollo(base_optimizer=scale_by_adam_moments)`` → ``scale_by_adam_bias_correction``
  → ``scale_by_learning_rate`` → ``add_decayed_weights_after_update``.

  Args:
    learning_rate: :math:`\eta_t`, a scalar or a schedule. The paper uses 0.01.
    rank: projection rank (``int`` > 0; clamped to each matrix's smaller side). The official
      recipes use about a quarter of the width (128 at 60M, 256 at 350M and 7B, 512 at 1B).
    update_proj_gap: projection refresh period (200 in the paper).
    scale: :math:`s`, the update is scaled by :math:`\sqrt{s}` (1 for APOLLO, 128 for
      APOLLO-Mini).
    scale_type: ``"channel"`` (APOLLO) or ``"tensor"`` (APOLLO-Mini).
    b1: Adam's :math:`\beta_1`.
    b2: Adam's :math:`\beta_2`.
    eps: Adam's :math:`\epsilon`, added to :math:`\sqrt{V_t}`.
    weight_decay: :math:`\lambda`, decoupled, applied to the updated weights.
    mask: which leaves weight decay applies to (a pytree of bools or a callable of params).
    scale_front: apply :math:`\sqrt{s}` before the limiter (the official ``scale_front``).
    gamma: the norm-growth limiter's :math:`\gamma \ge 1`; ``None`` disables it (the
      official ``disable_nl``).
    proj_type: ``"std"`` (official), ``"reverse_std"``, ``"left"`` or ``"right"``.
    projector_fn: ``None`` (seeded Gaussian) or ``(grad_2d, rank, step) -> (u, v)``.
    seed: seed of the Gaussian projections (each leaf and refresh gets its own stream).
    weight_dimension_numbers: which leaves are projected and how they are seen as matrices
      (as in ``optax.contrib.galore``; default: every 2-D leaf).
    mu_dtype: dtype of the first moment.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  .. warning::
    With ``optax.inject_hyperparams`` pass ``static_args=("rank", "seed")`` (and
    ``"projector_fn"``, ``"mask"`` if given: callables are taken for schedules).

  Examples:
    >>> import jax, jax.numpy as jnp, optax, fira_jax
    >>> params = {"w": jnp.ones((64, 32)), "b": jnp.zeros((32,))}
    >>> tx = fira_jax.apollo(1e-2, rank=8)
    >>> state = tx.init(params)
    >>> grads = jax.tree.map(jnp.ones_like, params)
    >>> updates, state = tx.update(grads, state, params)
    >>> params = optax.apply_updates(params, updates)
    >>> state[0].projector["w"].shape  # P^T of the right projection, (n, r)
    (32, 8)

  References:
    Zhu et al., `APOLLO: SGD-like Memory, AdamW-level Performance
    <https://arxiv.org/abs/2412.05270>`_, 2024.
  """
  _check_common(
    learning_rate, b1, b2, eps, weight_decay=(weight_decay, 0.0, False),
    gamma=(gamma, 1.0, False),
  )  # fmt: skip
  return optax.chain(
    scale_by_apollo(
      rank,
      update_proj_gap,
      scale=scale,
      scale_type=scale_type,
      base_optimizer=adam.scale_by_adam_moments(b1, b2, eps, mu_dtype),
      gamma=gamma,
      scale_front=scale_front,
      proj_type=proj_type,
      projector_fn=projector_fn,
      seed=seed,
      weight_dimension_numbers=weight_dimension_numbers,
    ),
    adam.scale_by_adam_bias_correction(b1, b2),
    optax.scale_by_learning_rate(learning_rate),
    adam.add_decayed_weights_after_update(learning_rate, weight_decay, mask),
  )


def apollo_mini(
  learning_rate: optax.ScalarOrSchedule,
  *,
  update_proj_gap: chex.Numeric = 200,
  scale: chex.Numeric = 128.0,
  b1: chex.Numeric = 0.9,
  b2: chex.Numeric = 0.999,
  eps: chex.Numeric = 1e-6,
  weight_decay: chex.Numeric = 0.0,
  mask: Any | None = None,
  scale_front: bool = False,
  gamma: chex.Numeric | None = 1.01,
  proj_type: str = "std",
  projector_fn: ProjectorFn | None = None,
  seed: int = 0,
  weight_dimension_numbers: dn.DimNumsOrFn = None,
  mu_dtype: Any | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""APOLLO-Mini: :func:`apollo` with rank 1, one scaling factor per tensor and scale 128.

  .. math::
    \phi_t = \frac{\lVert N_t \rVert_F}{\lVert R_t \rVert_F + 10^{-8}}, \qquad
    W \leftarrow W - \eta_t \tfrac{\sqrt{1-\beta_2^{t+1}}}{1-\beta_1^{t+1}}\,
      \sqrt{128}\; \mathrm{limit}(\phi_t\, G_t)

  with :math:`R_t` a rank-1 random projection of :math:`G_t` (``(m, 1)`` or ``(1, n)``): the
  optimizer state of a projected ``m × n`` matrix is ``2 max(m, n) + min(m, n)`` numbers and
  one scalar, SGD-like memory.

  Args:
    learning_rate: :math:`\eta_t`, a scalar or a schedule.
    update_proj_gap: projection refresh period.
    scale: :math:`s` (128 in the paper: a rank-1 ratio underestimates the scaling).
    b1: Adam's :math:`\beta_1`.
    b2: Adam's :math:`\beta_2`.
    eps: Adam's :math:`\epsilon`.
    weight_decay: :math:`\lambda`, decoupled, applied to the updated weights.
    mask: which leaves weight decay applies to.
    scale_front: apply :math:`\sqrt{s}` before the limiter (the official 60M APOLLO-Mini
      script sets it; the optimizer's default is off).
    gamma: the limiter's :math:`\gamma`, or ``None`` for no limiter.
    proj_type: ``"std"``, ``"reverse_std"``, ``"left"`` or ``"right"``.
    projector_fn: ``None`` (seeded Gaussian) or ``(grad_2d, rank, step) -> (u, v)``.
    seed: seed of the Gaussian projections.
    weight_dimension_numbers: as in ``optax.contrib.galore``.
    mu_dtype: dtype of the first moment.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Examples:
    >>> import jax.numpy as jnp, fira_jax
    >>> tx = fira_jax.apollo_mini(1e-2)
    >>> state = tx.init({"w": jnp.ones((64, 32))})
    >>> state[0].base_optimizer_state.mu["w"].shape
    (64, 1)

  References:
    Zhu et al., `APOLLO: SGD-like Memory, AdamW-level Performance
    <https://arxiv.org/abs/2412.05270>`_, 2024.
  """
  arguments = dict(locals())  # exactly the parameters above
  return apollo(rank=1, scale_type="tensor", **arguments)
