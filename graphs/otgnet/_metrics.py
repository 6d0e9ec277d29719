"""Class-incremental metrics: average performance and average forgetting."""

from __future__ import annotations

import numpy as np

__all__ = ["average_performance_forgetting"]


def average_performance_forgetting(acc) -> tuple[float, float]:
  """Average performance and average forgetting of an accuracy matrix.

  With :math:`a_{t,k}` the accuracy on task :math:`k` after training task :math:`t`
  (``T x T``, NaN where :math:`k > t`):

  .. math::
     AP = \\frac1T \\sum_k a_{T-1,k}, \\qquad
     AF = \\frac1{T-1} \\sum_{k<T-1} \\big(\\max_{t \\ge k} a_{t,k} - a_{T-1,k}\\big)

  (the maximum includes the last row, so each term is >= 0; AF is 0 for one task). NaN
  entries of the last row (a task without scored nodes) are skipped.

  Args:
    acc: ``[T, T]`` array-like.

  Returns:
    ``(ap, af)`` as floats, in the units of ``acc``.
  """
  a = np.asarray(acc, np.float64)
  if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] == 0:
    raise ValueError(f"acc must be a non-empty square [T, T] matrix, got shape {a.shape}")
  t = a.shape[0]
  last = a[-1]
  ap = float(np.nanmean(last)) if np.any(~np.isnan(last)) else float("nan")
  if t == 1:
    return ap, 0.0
  drops = [np.nanmax(a[k:, k]) - last[k] for k in range(t - 1) if not np.isnan(last[k])]
  return ap, float(np.mean(drops)) if drops else float("nan")
