"""Argument checks shared by the losses.

Checks run on concrete (Python or NumPy) values only; inside ``jit`` a hyper-parameter is a
tracer and is passed through unchecked, so schedules can feed traced temperatures.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np


def is_concrete(value: Any) -> bool:
  """True when ``value`` is not a JAX tracer (its value is known in Python)."""
  return not isinstance(value, jax.core.Tracer)


def check_positive(name: str, value: Any) -> None:
  """Raises ``ValueError`` when a concrete ``value`` has an entry ``<= 0``."""
  if is_concrete(value) and np.any(np.asarray(value) <= 0):
    raise ValueError(f"{name} must be > 0, got {np.asarray(value)!r}")


def check_in_unit_interval(name: str, value: Any) -> None:
  """Raises ``ValueError`` when a concrete ``value`` lies outside ``[0, 1]``."""
  if is_concrete(value):
    v = np.asarray(value)
    if np.any(v < 0) or np.any(v > 1):
      raise ValueError(f"{name} must lie in [0, 1], got {v!r}")


def check_same_shape(name_a: str, a: Any, name_b: str, b: Any) -> None:
  """Raises ``ValueError`` unless ``a`` and ``b`` have the same shape."""
  if np.shape(a) != np.shape(b):
    raise ValueError(
      f"{name_a} and {name_b} must have the same shape, got {np.shape(a)} and {np.shape(b)}"
    )


def check_ndim(name: str, a: Any, ndim: int) -> None:
  """Raises ``ValueError`` unless ``a`` has ``ndim`` dimensions."""
  if np.ndim(a) != ndim:
    raise ValueError(f"{name} must have {ndim} dimensions, got shape {np.shape(a)}")


def check_where(name: str, where: Any, shape: tuple[int, ...]) -> None:
  """Raises ``ValueError`` unless ``where`` is ``None`` or has exactly ``shape``."""
  if where is not None and tuple(np.shape(where)) != tuple(shape):
    raise ValueError(f"{name} must have shape {tuple(shape)}, got {np.shape(where)}")


def check_nonempty_sequence(name: str, seq: Any) -> None:
  """Raises ``ValueError`` when a list of per-layer arrays is empty."""
  if len(seq) == 0:
    raise ValueError(f"{name} must hold at least one array, got an empty sequence")


def check_layers(name_a: str, a: Any, name_b: str, b: Any) -> None:
  """Raises ``ValueError`` unless two per-layer lists are non-empty and equally long."""
  check_nonempty_sequence(name_a, a)
  if len(a) != len(b):
    raise ValueError(f"{name_a} and {name_b} must hold as many layers, got {len(a)} and {len(b)}")
