"""Low-rank gradient projection (GaLore) with an optional full-rank residual branch (Fira)."""

from __future__ import annotations

from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from fira_jax._src import dimension_numbers as dn
from fira_jax._src import fused
from fira_jax._src.projectors import ProjectorFn, svd_projector
from fira_jax._src.residual import fusion_spec

PROJ_TYPES = ("std", "reverse_std", "left", "right")
RESIDUAL_FORMS = ("official", "paper")


class LowRankProjectionState(NamedTuple):
  """State of :func:`scale_by_low_rank_projection`.

  Attributes:
    count: number of updates taken, int32 scalar.
    projector: per projected leaf, the orthonormal basis in use: ``(n, r)`` (:math:`V_r`) for a
      right projection, ``(m, r)`` (:math:`U_r`) for a left one; ``optax.MaskedNode()`` at
      leaves that are not projected.
    base_optimizer_state: state of the inner optimizer, which sees low-rank ``R`` at projected
      leaves and the full gradient elsewhere.
    residual_state: state of the residual transform (``optax.EmptyState()`` without one).
  """

  count: jax.Array
  projector: optax.Params
  base_optimizer_state: optax.OptState
  residual_state: optax.OptState


def side_for(m: int, n: int, proj_type: str) -> str:
  """``"right"`` or ``"left"``: the side a ``proj_type`` projects an ``(m, n)`` matrix on."""
  if proj_type == "std":
    return "right" if m >= n else "left"
  if proj_type == "reverse_std":
    return "left" if m >= n else "right"
  return proj_type


def _replicated(x: jax.Array) -> jax.Array:
  """Gathers an array sharded over explicit mesh axes (decompositions need it whole)."""
  spec = getattr(jax.typeof(x).sharding, "spec", None)
  if spec is not None and any(s is not None for s in spec):
    return jax.sharding.reshard(x, jax.sharding.PartitionSpec())
  return x


def _orient(side: str, x: jax.Array) -> jax.Array:
  """Puts the projected side first (the rank axis of a low-rank matrix last)."""
  return x if side == "right" else x.T


def _fused_update(
  infos, updates, low_rank, low_rank_acc, inner, projectors, res_state, spec, scale, sub
):
  """Fira's residual branch computed with one back-projection (see ``fira_residual``)."""
  mode, gamma, eps = spec
  limiter = res_state[1] if gamma is not None else None
  first = limiter.count == 0 if limiter is not None else jnp.asarray(True)
  last_norms = limiter.last_norm if limiter is not None else None

  def leaf(info, g, r, r_acc, n, basis, last):
    if info is None:
      return n.astype(g.dtype), optax.MaskedNode()
    out, norm = fused.fira_leaf(
      info.view.to_matrix(g),
      r,
      n,
      basis,
      jnp.zeros((), jnp.float32) if last is None else last,
      first,
      side=info.side,
      alpha=scale,
      sub=sub,
      mode=mode,
      gamma=gamma,
      eps=eps,
      r_acc=r_acc,
    )
    return info.view.from_matrix(out.astype(g.dtype)), norm

  if last_norms is None:
    last_norms = jax.tree.map(lambda _: None, infos, is_leaf=is_info)
  pairs = jax.tree.map(
    leaf, infos, updates, low_rank, low_rank_acc, inner, projectors, last_norms, is_leaf=is_info
  )
  out = jax.tree.map(lambda _, pair: pair[0], infos, pairs, is_leaf=is_info)
  if limiter is None:
    return out, res_state
  norms = jax.tree.map(lambda _, pair: pair[1], infos, pairs, is_leaf=is_info)
  new_limiter = limiter._replace(count=optax.safe_increment(limiter.count), last_norm=norms)
  return out, (res_state[0], new_limiter)


class _Leaf(NamedTuple):
  """Static description of one projected leaf."""

  view: dn.MatrixView
  side: str
  rank: int


def is_info(x) -> bool:
  """Leaf predicate of the per-leaf info trees: ``None`` (not projected) or a ``_Leaf``."""
  return x is None or isinstance(x, _Leaf)


def projected_leaves(weight_dimension_numbers, params, rank: int, proj_type: str) -> Any:
  """Per leaf of ``params``: its matrix view, projection side and clamped rank (a ``_Leaf``),
  or None for a leaf that is not projected."""
  dims = dn.resolve_dimension_numbers(weight_dimension_numbers, params)

  def info(path, d, p):
    if d is None:
      return None
    view = dn.matrix_view(p.shape, d, jax.tree_util.keystr(path))
    return _Leaf(view, side_for(view.m, view.n, proj_type), min(rank, view.m, view.n))

  return jax.tree.map_with_path(info, dims, params, is_leaf=dn.is_dim_nums_leaf)


def scale_by_low_rank_projection(
  rank: int = 128,
  update_proj_gap: chex.Numeric = 200,
  scale: chex.Numeric = 1.0,
  base_optimizer: optax.GradientTransformation | None = None,
  weight_dimension_numbers: dn.DimNumsOrFn = None,
  *,
  proj_type: str = "std",
  projector_fn: ProjectorFn | None = None,
  residual_transform: optax.GradientTransformation | None = None,
  residual_form: str = "official",
  refresh_batch_size: int | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""Runs ``base_optimizer`` in a low-rank subspace of each projected gradient (GaLore).

  A projected leaf is viewed as an ``(m, n)`` matrix ``G`` (``weight_dimension_numbers``). Every
  ``update_proj_gap`` steps (at t = 0, T, 2T, ...) its projector is recomputed from the
  current gradient with ``projector_fn`` (float32 truncated SVD by default); in between it is
  kept, and the inner optimizer's state is never reset. With :math:`r = \min(\text{rank}, m, n)`
  (a rank larger than the matrix is clamped, as the official slicing does):

  .. math::
    \text{right: } R = G V_r \in \mathbb{R}^{m \times r},\ \mathrm{back}(X) = X V_r^\top; \qquad
    \text{left: } R = U_r^\top G \in \mathbb{R}^{r \times n},\ \mathrm{back}(X) = U_r X.

  The output is :math:`\alpha\,\mathrm{back}(N)` with :math:`N` the inner optimizer's update of
  :math:`R` and :math:`\alpha` = ``scale``. With a ``residual_transform`` (Fira), the part of the
  gradient the projection discards is added back after that transform:

  .. math::
    S = \mathcal{T}\big(G - \alpha\,\mathrm{back}(R)\big), \qquad
    \text{output} = \alpha\,\mathrm{back}(N) + S,

  where :math:`\mathcal{T}` receives the residual as an ``(a, b)`` matrix oriented so that the
  projected side is the first axis (``(m, n)`` for right, ``(n, m)`` for left), plus the keyword
  arguments ``low_rank_grads`` (:math:`R`) and ``low_rank_updates`` (:math:`N`), both ``(a, r)``.
  ``residual_form="paper"`` uses :math:`(I - PP^\top)G = G - \mathrm{back}(R)` instead of the
  official :math:`G - \alpha\,\mathrm{back}(R)` (they agree for :math:`\alpha = 1`). Leaves
  that are not projected get the inner optimizer's update of the full gradient.

  Side rules (``proj_type``): ``"std"`` (official GaLore/Fira: right if m >= n, else left; the
  update is the same for a ``(out, in)`` and an ``(in, out)`` layout), ``"reverse_std"``
  (``optax.contrib.galore``'s rule: left if m >= n; stores fewer moments), ``"left"``,
  ``"right"``. Per projected leaf the state holds the basis (``n*r`` or ``m*r``) and the inner
  optimizer's state of the ``(m, r)``/``(r, n)`` matrix.

  .. warning::
    ``base_optimizer`` must not need the parameters (``scale_by_adam``, ``scale_by_lion``, ...,
    not ``adamw``): it sees low-rank matrices. Apply weight decay after this transform.

  Args:
    rank: target rank r (an ``int`` > 0; clamped to ``min(m, n)`` per leaf).
    update_proj_gap: refresh period T of the projectors (``int`` > 0 or an array).
    scale: :math:`\alpha`, applied to the back-projected update (and to the subtracted part of
      the official residual).
    base_optimizer: the inner gradient-only transform (default ``optax.scale_by_adam()``).
    weight_dimension_numbers: ``None`` (project every 2-D leaf), one
      ``optax.contrib.GaLoreDimensionNumbers`` (every leaf of rank >= 2), a pytree of them with
      ``None`` at leaves that are not projected, or a callable of the params returning one.
    proj_type: ``"std"``, ``"reverse_std"``, ``"left"`` or ``"right"``.
    projector_fn: ``(grad_2d, rank, step) -> (u_r, v_r)``, see :mod:`fira_jax` projectors.
    residual_transform: transform of the residual (Fira: norm-ratio scaling then the growth
      limiter); ``None`` drops the residual (GaLore).
    residual_form: ``"official"`` or ``"paper"`` (see above).
    refresh_batch_size: ``None`` (default) refreshes each projected leaf on its own; an int k
      groups the leaves of one matrix shape, side and rank and runs ``projector_fn`` over each
      group with ``jax.lax.map(..., batch_size=k)``: one compiled projector per distinct
      shape (two when k does not divide the group) instead of one per leaf (a LLaMA-7B tree
      has 224 projected leaves but 3 shapes), so compilation is much faster and a GPU runs k
      decompositions at once, at the cost of a
      stacked copy of each group's gradients during a refresh. The bases are the same up to
      float32 rounding.
      ``projector_fn`` must then be ``vmap``-able (pure JAX, as the built-in ones are).

  Returns:
    An ``optax.GradientTransformationExtraArgs``.
  """
  if refresh_batch_size is not None and (
    isinstance(refresh_batch_size, bool)
    or not isinstance(refresh_batch_size, int)
    or refresh_batch_size <= 0
  ):
    raise ValueError(
      f"`refresh_batch_size` must be None or a positive int, got {refresh_batch_size!r}"
    )
  if isinstance(rank, bool) or not isinstance(rank, int):
    raise TypeError(f"`rank` must be an int, got {type(rank).__name__}")
  if rank <= 0:
    raise ValueError(f"`rank` must be positive, got {rank}")
  if isinstance(update_proj_gap, (int, float)) and not (
    update_proj_gap > 0 and float(update_proj_gap).is_integer()
  ):
    raise ValueError(f"`update_proj_gap` must be a positive integer, got {update_proj_gap!r}")
  if proj_type not in PROJ_TYPES:
    raise ValueError(f"`proj_type` must be one of {PROJ_TYPES}, got {proj_type!r}")
  if residual_form not in RESIDUAL_FORMS:
    raise ValueError(f"`residual_form` must be one of {RESIDUAL_FORMS}, got {residual_form!r}")
  if base_optimizer is None:
    base_optimizer = optax.scale_by_adam()
  if projector_fn is None:
    projector_fn = svd_projector
  residual = None
  if residual_transform is not None:
    residual = optax.with_extra_args_support(residual_transform)
  fusable = fusion_spec(residual_transform)
  sub = scale if residual_form == "official" else 1.0

  def leaves_info(params) -> Any:
    return projected_leaves(weight_dimension_numbers, params, rank, proj_type)

  def init_fn(params):
    infos = leaves_info(params)

    def projector(info, p):
      if info is None:
        return optax.MaskedNode()
      size = info.view.n if info.side == "right" else info.view.m
      return jnp.zeros((size, info.rank), p.dtype)

    def proxy(info, p):  # what the inner optimizer sees
      if info is None:
        return p
      v = info.view
      shape = (v.m, info.rank) if info.side == "right" else (info.rank, v.n)
      return jnp.zeros(shape, p.dtype)

    def residual_proxy(info, p):
      if info is None:
        return optax.MaskedNode()
      v = info.view
      return jnp.zeros((v.m, v.n) if info.side == "right" else (v.n, v.m), p.dtype)

    projectors = jax.tree.map(projector, infos, params, is_leaf=is_info)
    base_state = base_optimizer.init(jax.tree.map(proxy, infos, params, is_leaf=is_info))
    if residual is None:
      res_state = optax.EmptyState()
    else:
      res_state = residual.init(jax.tree.map(residual_proxy, infos, params, is_leaf=is_info))
    return LowRankProjectionState(
      count=jnp.zeros([], jnp.int32),
      projector=projectors,
      base_optimizer_state=base_state,
      residual_state=res_state,
    )

  def update_fn(updates, state, params=None, **extra_args):
    del params
    infos = leaves_info(updates)
    refresh = state.count % jnp.asarray(update_proj_gap, state.count.dtype) == 0

    def compute_basis(info, g2, basis_dtype):
      u_r, v_r = projector_fn(g2.astype(jnp.float32), info.rank, state.count)
      return (v_r if info.side == "right" else u_r).astype(basis_dtype)

    def refresh_basis(info, g, basis):
      if info is None:
        return optax.MaskedNode()

      def compute():
        return compute_basis(info, _replicated(info.view.to_matrix(g)), basis.dtype)

      return jax.lax.cond(refresh, compute, lambda: basis)

    def refresh_grouped(infos, grads, bases):
      """Same-shape leaves stacked and mapped over in batches (``refresh_batch_size``)."""
      flat_infos, treedef = jax.tree.flatten(infos, is_leaf=is_info)
      flat_g = treedef.flatten_up_to(grads)
      flat_b = treedef.flatten_up_to(bases)
      groups: dict = {}
      for i, info in enumerate(flat_infos):
        if info is not None:
          key = (info.view.m, info.view.n, info.side, info.rank, flat_b[i].dtype)
          groups.setdefault(key, []).append(i)

      def compute():
        out = list(flat_b)
        for idx in groups.values():
          info = flat_infos[idx[0]]
          stack = jnp.stack([_replicated(info.view.to_matrix(flat_g[i])) for i in idx])
          fn = lambda g2, info=info, dt=flat_b[idx[0]].dtype: compute_basis(info, g2, dt)  # noqa: E731
          new = jax.lax.map(fn, stack, batch_size=min(refresh_batch_size, len(idx)))
          for j, i in enumerate(idx):
            out[i] = new[j]
        return out

      out = jax.lax.cond(refresh, compute, lambda: list(flat_b))
      return jax.tree.unflatten(treedef, out)

    def as_matrix(info, g):
      return optax.MaskedNode() if info is None else info.view.to_matrix(g)

    def project(info, g, basis):
      """``R`` accumulated in float32 (tensor cores for low-precision inputs on a GPU)."""
      if info is None:
        return g
      g2 = info.view.to_matrix(g)
      a, b = (g2, basis) if info.side == "right" else (basis.T, g2)
      return jnp.matmul(a, b, preferred_element_type=jnp.promote_types(g.dtype, jnp.float32))

    if refresh_batch_size is None:
      projectors = jax.tree.map(refresh_basis, infos, updates, state.projector, is_leaf=is_info)
    else:
      projectors = refresh_grouped(infos, updates, state.projector)
    low_rank_acc = jax.tree.map(project, infos, updates, projectors, is_leaf=is_info)
    low_rank = jax.tree.map(lambda r, g: r.astype(g.dtype), low_rank_acc, updates)
    inner, base_state = base_optimizer.update(low_rank, state.base_optimizer_state, None)

    def back(info, x, basis):
      return x @ basis.T if info.side == "right" else basis @ x

    if fusable is not None:
      out, res_state = _fused_update(
        infos,
        updates,
        low_rank,
        low_rank_acc,
        inner,
        projectors,
        state.residual_state,
        fusable,
        scale,
        sub,
      )
      return out, LowRankProjectionState(
        count=optax.safe_increment(state.count),
        projector=projectors,
        base_optimizer_state=base_state,
        residual_state=res_state,
      )

    res_state = state.residual_state
    residuals = None
    if residual is not None:
      mats = jax.tree.map(as_matrix, infos, updates, is_leaf=is_info)

      def make_residual(info, g2, r, basis):
        if info is None:
          return optax.MaskedNode()
        res = g2 - (sub * back(info, r, basis)).astype(g2.dtype)
        return _orient(info.side, res)

      res_in = jax.tree.map(make_residual, infos, mats, low_rank, projectors, is_leaf=is_info)
      mask_leaves = lambda info, x: optax.MaskedNode() if info is None else _orient(info.side, x)  # noqa: E731
      residuals, res_state = residual.update(
        res_in,
        state.residual_state,
        None,
        low_rank_grads=jax.tree.map(mask_leaves, infos, low_rank, is_leaf=is_info),
        low_rank_updates=jax.tree.map(mask_leaves, infos, inner, is_leaf=is_info),
        **extra_args,
      )

    def combine(info, g, n, basis, s):
      if info is None:
        return n.astype(g.dtype)
      out = scale * back(info, n, basis)
      if s is not None:
        out = out + (s if info.side == "right" else s.T)
      return info.view.from_matrix(out.astype(g.dtype))

    if residuals is None:
      residuals = jax.tree.map(lambda _: None, infos, is_leaf=is_info)
    out = jax.tree.map(
      lambda info, g, n, b, s: combine(info, g, n, b, s),
      infos,
      updates,
      inner,
      projectors,
      residuals,
      is_leaf=is_info,
    )
    new_state = LowRankProjectionState(
      count=optax.safe_increment(state.count),
      projector=projectors,
      base_optimizer_state=base_state,
      residual_state=res_state,
    )
    return out, new_state

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)
