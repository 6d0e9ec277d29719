"""Hidden-state matching (FitNets) and the per-layer helpers the layer-wise losses share.

Hidden states are lists with one array per matched layer, each ``(B, ..., d)``; every loss
returns one value per example, shape ``(B,)``. Optional ``where`` masks are ``(B, ...)`` over
the positions between the batch and the feature axis (e.g. valid tokens ``(B, L)``).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx
from jax.typing import ArrayLike

from distill._validation import check_layers, check_nonempty_sequence, check_same_shape, check_where

__all__ = ["LinearFilters", "masked_position_mean", "hidden_state_loss", "mse_per_example"]

Array = jax.Array


class LinearFilters(nnx.Module):
  """One linear map per matched layer: FitNets projections ``W_k`` or TED filters ``g^k``.

  Args:
    in_features: input width of each layer's hidden state (one entry per layer).
    out_features: common output width.
    rngs: random streams for the initialisers.
  """

  def __init__(self, in_features: Sequence[int], out_features: int, *, rngs: nnx.Rngs):
    check_nonempty_sequence("in_features", in_features)
    self.layers = nnx.List([nnx.Linear(d, out_features, rngs=rngs) for d in in_features])

  def __call__(self, hidden: Sequence[Array]) -> list[Array]:
    if len(hidden) != len(self.layers):
      raise ValueError(f"expected {len(self.layers)} hidden states, got {len(hidden)}")
    return [layer(h) for layer, h in zip(self.layers, hidden, strict=True)]


def masked_position_mean(x: Array, where: ArrayLike | None) -> Array:
  """Mean over all axes but the first of ``x`` of shape ``(B, ...)``, optionally masked."""
  axes = tuple(range(1, x.ndim))
  if where is None:
    return jnp.mean(x, axis=axes) if axes else x
  check_where("where", where, x.shape)
  m = jnp.asarray(where, x.dtype)
  return jnp.sum(x * m, axis=axes) / jnp.maximum(jnp.sum(m, axis=axes), 1.0)


def hidden_state_loss(
  student_hidden: Sequence[ArrayLike],
  teacher_hidden: Sequence[ArrayLike],
  projections: Sequence[ArrayLike],
  *,
  layer_map: Sequence[int] | None = None,
  where: ArrayLike | None = None,
) -> Array:
  r"""FitNets-style hidden-state matching with learned projections.

  .. math::
    L = \sum_k \operatorname{mean}_{\text{positions}} \| H_s^k W_k - H_t^{m(k)} \|_2^2

  Args:
    student_hidden: ``K`` arrays ``(B, ..., d_s^k)``.
    teacher_hidden: teacher layers ``(B, ..., d_t)``; indexed through ``layer_map``.
    projections: ``K`` matrices ``W_k`` of shape ``(d_s^k, d_t)`` (e.g. the kernels of
      :class:`LinearFilters`).
    layer_map: ``m(k)``, the teacher layer matched to student layer ``k`` (default: identity,
      which needs as many teacher as student layers).
    where: optional mask of valid positions ``(B, ...)``.

  Returns:
    Per-example loss, shape ``(B,)``.

  References:
    Romero et al., *FitNets: Hints for Thin Deep Nets*, ICLR 2015 (arXiv:1412.6550).
  """
  check_nonempty_sequence("student_hidden", student_hidden)
  if len(projections) != len(student_hidden):
    raise ValueError(
      f"projections must hold one matrix per student layer ({len(student_hidden)}), "
      f"got {len(projections)}"
    )
  if layer_map is None:
    check_layers("student_hidden", student_hidden, "teacher_hidden", teacher_hidden)
    layer_map = range(len(student_hidden))
  elif len(layer_map) != len(student_hidden):
    raise ValueError(f"layer_map must have {len(student_hidden)} entries, got {len(layer_map)}")
  total = 0.0
  for hs, w, m in zip(student_hidden, projections, layer_map, strict=True):
    if not 0 <= m < len(teacher_hidden):
      raise ValueError(f"layer_map entry {m} is not a teacher layer (0..{len(teacher_hidden) - 1})")
    pred = jnp.asarray(hs) @ jnp.asarray(w)
    check_same_shape(
      "projected student hidden state", pred, "teacher hidden state", teacher_hidden[m]
    )
    sq = jnp.sum((pred - jnp.asarray(teacher_hidden[m])) ** 2, axis=-1)
    total = total + masked_position_mean(sq, where)
  return total


def mse_per_example(a: ArrayLike, b: ArrayLike, where: ArrayLike | None) -> Array:
  check_same_shape("student hidden state", a, "teacher hidden state", b)
  sq = jnp.mean((jnp.asarray(a) - jnp.asarray(b)) ** 2, axis=-1)
  return masked_position_mean(sq, where)
