"""Which leaves are projected, and how a leaf is seen as a matrix.

We accept :class:`optax.contrib.GaLoreDimensionNumbers` itself, so a pytree of dimension
numbers written for ``optax.contrib.galore`` works unchanged here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
from optax.contrib import GaLoreDimensionNumbers

DimNumsOrFn = GaLoreDimensionNumbers | Any | Callable[[Any], Any] | None


def is_dim_nums_leaf(x: Any) -> bool:
  return x is None or isinstance(x, GaLoreDimensionNumbers)


class MatrixView(NamedTuple):
  """How a leaf of shape ``shape`` is viewed as an ``(m, n)`` matrix and back."""

  transpose: tuple[int, ...]
  transposed_shape: tuple[int, ...]
  m: int
  n: int

  def to_matrix(self, x: jax.Array) -> jax.Array:
    return x.transpose(self.transpose).reshape(self.m, self.n)

  def from_matrix(self, x: jax.Array) -> jax.Array:
    inverse = tuple(sorted(range(len(self.transpose)), key=self.transpose.__getitem__))
    return x.reshape(self.transposed_shape).transpose(inverse)


def _axes(axis, ndim: int, what: str, path: str) -> tuple[int, ...]:
  axes = (axis,) if isinstance(axis, int) else tuple(axis)
  for ax in axes:
    if not isinstance(ax, int) or not -ndim <= ax < ndim:
      raise ValueError(
        f"`weight_dimension_numbers` at {path}: {what} axis {ax!r} is out of range for a "
        f"leaf with {ndim} dimensions"
      )
  return tuple(ax % ndim for ax in axes)


def matrix_view(
  shape: tuple[int, ...], dim_nums: GaLoreDimensionNumbers, path: str = ""
) -> MatrixView:
  """Returns the matrix view of a leaf; raises ``ValueError`` if ``dim_nums`` do not fit it."""
  ndim = len(shape)
  if ndim < 2:
    raise ValueError(
      f"`weight_dimension_numbers` at {path}: a projected leaf needs at least 2 dimensions, "
      f"got shape {tuple(shape)}"
    )
  red = _axes(dim_nums.reduction_axis, ndim, "reduction", path)
  out = _axes(dim_nums.output_axis, ndim, "output", path)
  if set(red) & set(out) or len(set(red)) != len(red) or len(set(out)) != len(out):
    raise ValueError(
      f"`weight_dimension_numbers` at {path}: reduction axes {red} and output axes {out} "
      "must be distinct"
    )
  if len(red) + len(out) != ndim:
    raise ValueError(
      f"`weight_dimension_numbers` at {path}: reduction {red} and output {out} axes must "
      f"cover all {ndim} dimensions of shape {tuple(shape)}"
    )
  transpose = red + out
  transposed_shape = tuple(shape[a] for a in transpose)
  return MatrixView(
    transpose, transposed_shape, math.prod(shape[a] for a in red), math.prod(shape[a] for a in out)
  )


def resolve_dimension_numbers(weight_dimension_numbers: DimNumsOrFn, params: Any) -> Any:
  """A pytree with the structure of ``params``: dimension numbers or ``None`` at each leaf.

  ``None`` projects every 2-D leaf; one ``GaLoreDimensionNumbers`` applies to every leaf of
  rank >= 2; a pytree gives them leaf by leaf (``None`` = not projected); a callable is
  called with ``params`` and returns such a pytree.
  """
  if weight_dimension_numbers is None:
    return jax.tree.map(lambda p: GaLoreDimensionNumbers() if p.ndim == 2 else None, params)
  if isinstance(weight_dimension_numbers, GaLoreDimensionNumbers):
    return jax.tree.map(lambda p: weight_dimension_numbers if p.ndim >= 2 else None, params)
  if callable(weight_dimension_numbers):
    dims = weight_dimension_numbers(params)
  else:
    dims = weight_dimension_numbers
  try:
    jax.tree.map(lambda d, p: None, dims, params, is_leaf=is_dim_nums_leaf)
  except ValueError as e:
    raise ValueError(
      "`weight_dimension_numbers` must be a pytree with the structure of the parameters, "
      f"holding GaLoreDimensionNumbers or None at each leaf: {e}"
    ) from None
  return dims
