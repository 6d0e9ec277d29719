"""Accuracy with Wilson intervals, an exact binomial test against chance, position bias, and
psychometric thresholds.

Wilson 95% interval for ``k`` correct of ``n`` (``z = 1.96``, ``p̂ = k/n``):

.. math::

  \\frac{\\hat p + z^2/2n \\pm z\\sqrt{\\hat p(1-\\hat p)/n + z^2/4n^2}}{1 + z^2/n}.

The p-value is the exact one-sided binomial test of ``acc > 1/k`` (``k`` options):
``scipy.stats.binomtest(correct, n, 1/k, alternative="greater")``.

Psychometric curve of a two-option task over the stimulus difference Δ (a logistic in ln Δ,
fitted by maximum likelihood on per-item outcomes with L-BFGS-B):

.. math::

  P(\\Delta) = \\gamma + (1 - \\gamma - \\lambda)\\,
    \\sigma\\!\\left(\\frac{\\ln\\Delta - \\alpha}{\\beta}\\right),
  \\quad \\gamma = \\tfrac12,\\ \\lambda \\in [0, 0.06].

The 75% threshold solves ``P(Δ) = 0.75``:
``Δ_75 = exp(α + β logit(0.25 / (0.5 - λ)))``; its 95% interval comes from seeded bootstrap
resamples of the items. There is no threshold when the largest-Δ cell is below 75%, or the fit
does not converge; when even the smallest-Δ cell is at 75% or above, it is below the grid.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.optimize
import scipy.special
import scipy.stats

from avprobe._items import Item
from avprobe._parser import parse_detail
from fira_jax.lab.seeds import np_rng

__all__ = ["wilson_interval", "binom_pvalue", "Threshold", "fit_threshold", "score", "report_table"]


def wilson_interval(correct: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
  """The Wilson score interval of a binomial proportion (``(0, 1)`` for ``n = 0``)."""
  if n == 0:
    return 0.0, 1.0
  z = float(scipy.stats.norm.ppf(0.5 + confidence / 2))
  p = correct / n
  centre = (p + z * z / (2 * n)) / (1 + z * z / n)
  half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
  return max(0.0, centre - half), min(1.0, centre + half)


def binom_pvalue(correct: int, n: int, chance: float) -> float:
  """The exact one-sided p-value of ``correct/n > chance``."""
  if n == 0:
    return 1.0
  return float(scipy.stats.binomtest(correct, n, chance, alternative="greater").pvalue)


@dataclasses.dataclass(frozen=True)
class Threshold:
  """A fitted 75% threshold.

  Attributes:
    value: Δ at P = 0.75, or None.
    low: the bootstrap 2.5% quantile (None without a value or bootstrap).
    high: the bootstrap 97.5% quantile.
    status: ``"fit"``, ``"< Δ_min"`` (every cell ≥ 75%), ``"none"`` (the largest-Δ cell < 75%)
      or ``"no convergence"``.
    params: ``(alpha, beta, lapse)`` of the fit.
  """

  value: float | None
  low: float | None = None
  high: float | None = None
  status: str = "fit"
  params: tuple[float, float, float] | None = None

  def fmt(self, digits: int = 3) -> str:
    """``"1.91 [1.52, 2.40]"``, ``"< 0.5"`` or ``"none"``."""
    if self.value is None:
      return self.status
    ci = "" if self.low is None else f" [{self.low:.{digits}g}, {self.high:.{digits}g}]"
    return f"{self.value:.{digits}g}{ci}"


def _neg_log_lik(params, x, y):
  """The negative log-likelihood and its gradient in ``(alpha, beta, lapse)``."""
  alpha, beta, lapse = params
  z = (x - alpha) / beta
  s = scipy.special.expit(z)
  p = np.clip(0.5 + (0.5 - lapse) * s, 1e-9, 1 - 1e-9)
  nll = -np.sum(y * np.log(p) + (1 - y) * np.log1p(-p))
  dp = -(y / p - (1 - y) / (1 - p))
  ds = (0.5 - lapse) * s * (1 - s)
  grad = [np.sum(dp * ds * (-1 / beta)), np.sum(dp * ds * (-z / beta)), np.sum(dp * -s)]
  return nll, np.array(grad)


def _fit(x: np.ndarray, y: np.ndarray, starts=None) -> tuple[float, float, float] | None:
  lo, hi = x.min(), x.max()
  bounds = [(lo - 3.0, hi + 3.0), (0.02, 5.0), (0.0, 0.06)]
  starts = [(a, 0.5, 0.02) for a in np.linspace(lo, hi, 3)] if starts is None else starts
  best = None
  for start in starts:
    res = scipy.optimize.minimize(
      _neg_log_lik, start, args=(x, y), jac=True, method="L-BFGS-B", bounds=bounds
    )
    if res.success and (best is None or res.fun < best.fun):
      best = res
  return None if best is None else tuple(float(v) for v in best.x)


def _threshold_of(params: tuple[float, float, float]) -> float:
  alpha, beta, lapse = params
  return float(np.exp(alpha + beta * scipy.special.logit(0.25 / (0.5 - lapse))))


def fit_threshold(
  deltas: Sequence[float], correct: Sequence[bool], *, n_boot: int = 1000, seed: int = 0
) -> Threshold:
  """The 75% threshold of a two-option task from per-item outcomes (see the module docstring).

  Args:
    deltas: each item's stimulus difference Δ (> 0).
    correct: whether each item was answered correctly.
    n_boot: bootstrap resamples of the items for the 95% interval (0: none).
    seed: seeds the stream ``"avprobe/bootstrap"``.
  """
  d = np.asarray(deltas, np.float64)
  y = np.asarray(correct, np.float64)
  if d.size == 0 or np.any(d <= 0):
    raise ValueError("deltas must be non-empty and positive")
  cells = np.unique(d)
  acc = np.array([y[d == c].mean() for c in cells])
  if acc[-1] < 0.75:
    return Threshold(None, status="none")
  if acc[0] >= 0.75:
    return Threshold(None, status=f"< {cells[0]:g}")
  x = np.log(d)
  params = _fit(x, y)
  if params is None:
    return Threshold(None, status="no convergence")
  value = _threshold_of(params)
  if n_boot <= 0:
    return Threshold(value, params=params)
  rng = np_rng(seed, "avprobe/bootstrap")
  boots = []
  for _ in range(n_boot):
    idx = rng.integers(0, d.size, d.size)
    p = _fit(x[idx], y[idx], starts=[params])
    if p is not None:
      boots.append(_threshold_of(p))
  low, high = np.quantile(boots, [0.025, 0.975]) if boots else (None, None)
  return Threshold(value, float(low), float(high), params=params)


def _summary(correct: np.ndarray, k: int) -> dict[str, Any]:
  n, c = int(correct.size), int(correct.sum())
  low, high = wilson_interval(c, n)
  return {
    "n": n,
    "correct": c,
    "acc": c / n if n else float("nan"),
    "ci": [low, high],
    "chance": 1.0 / k,
    "p_value": binom_pvalue(c, n, 1.0 / k),
  }


def score(
  items: Sequence[Item],
  responses: Sequence[str],
  *,
  mode: str = "avodyssey",
  n_boot: int = 1000,
  seed: int = 0,
) -> dict[str, Any]:
  """Scores responses: per task, per (task, Δ) cell and overall.

  Args:
    items: the items.
    responses: one response string per item.
    mode: the answer parser's mode (``"avodyssey"`` or ``"strict"``; in ``strict`` an
      unreadable answer is wrong).
    n_boot: bootstrap resamples for the threshold intervals.
    seed: seeds the bootstrap.

  Returns:
    ``{"mode", "overall": {...}, "tasks": {task: {n, correct, acc, ci, chance, p_value,
    parse_fail_rate, pos1_rate, acc_pos1, acc_pos2, balanced_acc, cells, threshold, mae}}}``.
  """
  if len(items) != len(responses):
    raise ValueError(f"items ({len(items)}) and responses ({len(responses)}) differ in length")
  details = [parse_detail(r, list(it.options)) for it, r in zip(items, responses, strict=True)]
  letters = [d.letter_for(mode) for d in details]
  correct = np.array([ltr == it.answer for it, ltr in zip(items, letters, strict=True)])
  failed = np.array(
    [ltr is None or d.stage == "fallback" for d, ltr in zip(details, letters, strict=True)]
  )
  tasks: dict[str, Any] = {}
  for task in dict.fromkeys(it.task for it in items):
    idx = np.array([i for i, it in enumerate(items) if it.task == task])
    sub = [items[i] for i in idx]
    k = len(sub[0].options)
    out = _summary(correct[idx], k)
    out["parse_fail_rate"] = float(failed[idx].mean())
    deltas = np.array([it.meta.get("delta", np.nan) for it in sub], np.float64)
    if not np.isnan(deltas).any():
      out["cells"] = {f"{c:g}": _summary(correct[idx][deltas == c], k) for c in np.unique(deltas)}
    pos = [it.meta.get("positions") for it in sub]
    if k == 2 and all(p is not None for p in pos):
      named = [
        p["AB".index(letters[i])] if letters[i] else 0 for i, p in zip(idx, pos, strict=True)
      ]
      correct_pos = np.array([it.meta["correct_position"] for it in sub])
      c = correct[idx]
      out["pos1_rate"] = float(np.mean(np.array(named) == 1))
      out["acc_pos1"] = float(c[correct_pos == 1].mean()) if np.any(correct_pos == 1) else None
      out["acc_pos2"] = float(c[correct_pos == 2].mean()) if np.any(correct_pos == 2) else None
      if out["acc_pos1"] is not None and out["acc_pos2"] is not None:
        out["balanced_acc"] = (out["acc_pos1"] + out["acc_pos2"]) / 2
      if not np.isnan(deltas).any() and task != "loudness_clip":
        out["threshold"] = dataclasses.asdict(
          fit_threshold(deltas, correct[idx], n_boot=n_boot, seed=seed)
        )
    if task == "counting":
      errs = []
      for i, it in zip(idx, sub, strict=True):
        ltr = letters[i]
        if ltr is not None and it.options["ABCD".index(ltr)].strip().isdigit():
          errs.append(abs(int(it.options["ABCD".index(ltr)]) - int(it.meta.get("count", 0))))
      out["mae"] = float(np.mean(errs)) if errs and "count" in sub[0].meta else None
    tasks[task] = out
  overall = _summary(correct, 2)
  overall.pop("chance")
  overall.pop("p_value")
  overall["parse_fail_rate"] = float(failed.mean()) if len(items) else 0.0
  return {"mode": mode, "overall": overall, "tasks": tasks}


def report_table(report: dict[str, Any]) -> str:
  """A markdown table of a :func:`score` report: task, n, acc, CI, p, parse failures,
  position-1 rate, threshold."""
  from fira_jax.lab.results import markdown_table

  rows = []
  for task, t in report["tasks"].items():
    thr = t.get("threshold")
    rows.append(
      [
        task,
        t["n"],
        f"{t['acc']:.3f}",
        f"[{t['ci'][0]:.3f}, {t['ci'][1]:.3f}]",
        f"{t['p_value']:.2g}",
        f"{t['parse_fail_rate']:.2f}",
        "-" if t.get("pos1_rate") is None else f"{t['pos1_rate']:.2f}",
        "-" if thr is None else Threshold(**{**thr, "params": None}).fmt(),
      ]
    )
  header = ["task", "n", "acc", "95% CI", "p (vs chance)", "parse fail", "P(pos 1)", "75% thr."]
  return markdown_table(header, rows)
