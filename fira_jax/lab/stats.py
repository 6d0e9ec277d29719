"""Summary statistics over seeds: mean ± std and paired differences with a t interval."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
from scipy import stats as _sps

__all__ = ["mean_std", "fmt_pm", "PairedDelta", "paired_delta", "paired_by_key"]


def _as_array(values, name: str) -> np.ndarray:
  arr = np.asarray(values, dtype=np.float64)
  if arr.ndim != 1 or arr.size == 0:
    raise ValueError(f"{name} must be a non-empty 1-D sequence of numbers, got shape {arr.shape}")
  return arr


def mean_std(values: Sequence[float], *, ddof: int = 0) -> tuple[float, float]:
  """Mean and standard deviation of ``values``.

  ``ddof=0`` (the default) is the population std the project's tables have always shown;
  ``ddof=1`` the sample std (0 for a single value).
  """
  arr = _as_array(values, "values")
  std = float(arr.std(ddof=ddof)) if arr.size > ddof else 0.0
  return float(arr.mean()), std


def fmt_pm(values: Sequence[float], *, scale: float = 1.0, digits: int = 2, ddof: int = 0) -> str:
  """``"mean ± std"`` of ``scale * values`` with ``digits`` decimals (e.g. ``scale=100`` for %).

  Examples:
    >>> fmt_pm([0.8, 0.9], scale=100, digits=1)
    '85.0 ± 5.0'
  """
  mean, std = mean_std(np.asarray(values, dtype=np.float64) * scale, ddof=ddof)
  return f"{mean:.{digits}f} ± {std:.{digits}f}"


class PairedDelta(NamedTuple):
  """Paired difference ``a - b`` over ``n`` pairs.

  Attributes:
    mean: mean difference.
    std: sample standard deviation of the differences (``ddof=1``; 0 when ``n = 1``).
    sem: standard error ``std / sqrt(n)``.
    low, high: the two-sided Student-t confidence interval of the mean (NaN when ``n = 1``).
    n: number of pairs.
    confidence: the interval's level.
  """

  mean: float
  std: float
  sem: float
  low: float
  high: float
  n: int
  confidence: float

  def fmt(self, digits: int = 2, *, scale: float = 1.0) -> str:
    """``"+m [lo, hi]"`` (the interval omitted for a single pair)."""
    m, lo, hi = self.mean * scale, self.low * scale, self.high * scale
    if self.n < 2:
      return f"{m:+.{digits}f}"
    return f"{m:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]"


def paired_delta(
  a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95
) -> PairedDelta:
  """Mean of ``a[i] - b[i]`` with a Student-t confidence interval.

  .. math:: \\bar d \\pm t_{(1+c)/2,\\,n-1}\\, s_d / \\sqrt{n}

  Args:
    a, b: paired measurements (same length, e.g. one per seed).
    confidence: level of the two-sided interval, in (0, 1).
  """
  if not 0.0 < confidence < 1.0:
    raise ValueError(f"confidence must be in (0, 1), got {confidence}")
  xa, xb = _as_array(a, "a"), _as_array(b, "b")
  if xa.shape != xb.shape:
    raise ValueError(f"a and b must pair up, got {xa.size} and {xb.size} values")
  d = xa - xb
  n = d.size
  mean = float(d.mean())
  if n < 2:
    return PairedDelta(mean, 0.0, 0.0, math.nan, math.nan, n, confidence)
  std = float(d.std(ddof=1))
  sem = std / math.sqrt(n)
  half = float(_sps.t.ppf(0.5 + confidence / 2, n - 1)) * sem
  return PairedDelta(mean, std, sem, mean - half, mean + half, n, confidence)


def paired_by_key(a: Mapping, b: Mapping, *, confidence: float = 0.95) -> PairedDelta | None:
  """:func:`paired_delta` over the keys (e.g. seeds) that ``a`` and ``b`` share; None if none."""
  keys = sorted(set(a) & set(b))
  if not keys:
    return None
  return paired_delta([a[k] for k in keys], [b[k] for k in keys], confidence=confidence)
