"""What Fira's residual branch did in one step, recomputed from a gradient and the two states."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from fira_jax._src import dimension_numbers as dn
from fira_jax._src.adam import ScaleByAdamMomentsState
from fira_jax._src.projection import LowRankProjectionState, is_info, projected_leaves
from fira_jax._src.residual import NORM_SCALINGS, LimitNormGrowthState


def _find(tree, cls):
  """The first node of type ``cls`` in ``tree`` (depth first), or None."""
  is_node = lambda x: isinstance(x, cls)  # noqa: E731
  found = [x for x in jax.tree.leaves(tree, is_leaf=is_node) if is_node(x)]
  return found[0] if found else None


def fira_statistics(
  grads: optax.Updates,
  state: optax.OptState,
  new_state: optax.OptState,
  *,
  alpha: float = 1.0,
  eps: float = 1e-6,
  norm_scaling: str = "channel",
  gamma: float | None = 1.01,
  residual_form: str = "official",
  proj_type: str = "std",
  weight_dimension_numbers: dn.DimNumsOrFn = None,
  residual_eps: float = 1e-8,
) -> Any:
  r"""Per projected matrix, the quantities of Fira's residual branch in the step just taken.

  Nothing is recorded during training: this recomputes them (in float32) from the gradient
  ``grads`` the Fira transform received, its state before the step (``state``) and after it
  (``new_state``), so the default update path stays as fast as it is. The states may be those
  of :func:`fira_jax.fira` or of any chain or ``multi_transform`` holding it (the first
  :class:`~fira_jax.LowRankProjectionState` found is used). With :math:`B` the basis in use,
  :math:`R` the low-rank gradient, :math:`N = M_t / (\sqrt{V_t} + \epsilon)` the inner Adam
  direction (from the new moments), :math:`c` the subtracted scale (``alpha`` officially, 1
  for ``residual_form="paper"``):

  .. math::
    \phi &= \lVert N \rVert / (\lVert R \rVert + \epsilon_r) \quad \text{(per channel)}, \qquad
    S = \phi \odot \big(G - c\,\mathrm{back}(R)\big), \\
    \rho &= \max\big(\lVert S \rVert / \lVert S_{t-1} \rVert, \gamma\big) / \gamma
      \ (1 \text{ at the first step or without a limiter}), \qquad
    U = \alpha\,\mathrm{back}(N) + S / \rho.

  Args:
    grads: the gradient tree (as the Fira transform saw it: after any clipping before it).
    state: the optimizer state before the step.
    new_state: the optimizer state after the step.
    alpha: Fira's ``alpha``.
    eps: Adam's :math:`\epsilon`.
    norm_scaling: ``"channel"``, ``"matrix"`` or ``"none"``.
    gamma: the limiter's :math:`\gamma` (``None``: no limiter).
    residual_form: ``"official"`` or ``"paper"``.
    proj_type: the projection side rule used by the transform.
    weight_dimension_numbers: as given to the transform.
    residual_eps: :math:`\epsilon_r` of the norm ratio and of the limiter.

  Returns:
    A tree shaped like ``grads``: ``None`` at leaves that are not projected, else a dict of
    float32 arrays: ``phi`` (one factor per channel, shape ``(a,)`` with ``a`` the projected
    side; ``(1,)`` for ``"matrix"``/``"none"``), ``rho`` (the limiter's divisor, scalar),
    ``limited`` (``rho > 1``: the limiter cut the residual), ``low_rank_norm``
    (:math:`\lVert \alpha\,\mathrm{back}(N) \rVert_F`), ``residual_norm``
    (:math:`\lVert S/\rho \rVert_F`), ``update_norm`` (:math:`\lVert U \rVert_F`) and
    ``residual_share`` (``residual_norm / update_norm``).

  Raises:
    ValueError: if the states hold no low-rank projection with Adam moments.
  """
  if norm_scaling not in NORM_SCALINGS:
    raise ValueError(f"`norm_scaling` must be one of {NORM_SCALINGS}, got {norm_scaling!r}")
  old, new = _find(state, LowRankProjectionState), _find(new_state, LowRankProjectionState)
  moments = None if new is None else _find(new.base_optimizer_state, ScaleByAdamMomentsState)
  if old is None or moments is None:
    raise ValueError("the states hold no Fira low-rank projection with Adam moments")
  limiter = _find(old.residual_state, LimitNormGrowthState) if gamma is not None else None
  first = jnp.asarray(True) if limiter is None else limiter.count == 0
  sub = alpha if residual_form == "official" else 1.0
  f32 = jnp.float32
  infos = projected_leaves(weight_dimension_numbers, grads, 1, proj_type)
  no_limit = jax.tree.map(lambda _: None, infos, is_leaf=is_info)
  last_norms = no_limit if limiter is None else limiter.last_norm

  def leaf(info, g, basis, mu, nu, last):
    if info is None:
      return None
    x, basis = info.view.to_matrix(g).astype(f32), basis.astype(f32)
    n = mu.astype(f32) / (jnp.sqrt(nu.astype(f32)) + eps)
    if info.side == "right":  # rows of x are the channels
      r, back = x @ basis, lambda y: y @ basis.T
    else:  # columns of x are the channels; work on the transposes
      r, back = (basis.T @ x).T, lambda y: (basis @ y.T).T
      x, n = x.T, n.T
    if norm_scaling == "channel":
      phi = jnp.linalg.norm(n, axis=1) / (jnp.linalg.norm(r, axis=1) + residual_eps)
    elif norm_scaling == "matrix":
      phi = (jnp.linalg.norm(n) / (jnp.linalg.norm(r) + residual_eps))[None]
    else:
      phi = jnp.ones((1,), f32)
    s = phi[:, None] * (x - sub * back(r))
    s_norm = jnp.linalg.norm(s)
    rho = jnp.ones((), f32)
    if last is not None:
      g_ = jnp.asarray(gamma, f32)
      rho = jnp.where(first, 1.0, jnp.maximum(s_norm / (last + residual_eps), g_) / g_)
    low = alpha * back(n)
    update_norm = jnp.linalg.norm(low + s / rho)
    return {
      "phi": phi,
      "rho": rho,
      "limited": rho > 1.0,
      "low_rank_norm": jnp.linalg.norm(low),
      "residual_norm": s_norm / rho,
      "update_norm": update_norm,
      "residual_share": s_norm / rho / jnp.maximum(update_norm, 1e-30),
    }

  flat_infos, treedef = jax.tree.flatten(infos, is_leaf=is_info)
  parts = [treedef.flatten_up_to(t) for t in (grads, new.projector, moments.mu, moments.nu)]
  lasts = treedef.flatten_up_to(last_norms)
  out = [leaf(i, *xs, last) for i, *xs, last in zip(flat_infos, *parts, lasts, strict=True)]
  return jax.tree.unflatten(treedef, out)


__all__ = ["fira_statistics"]
