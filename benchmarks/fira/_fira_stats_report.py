"""Fira's residual branch during one run: a table and a figure from ``fira_stats.jsonl``.

Helper of ``pretrain_sweep.py``: the file is what ``fira-jax train --fira-stats-every N``
writes (one line per recorded step; per projected matrix the quantiles of φ, ``rho``,
``limited``, ``residual_share``, ...).
"""

from __future__ import annotations

import json
import pathlib
import re

import numpy as np

from fira_jax.lab.results import markdown_table

KINDS = ("q", "k", "v", "o", "gate", "up", "down")
_KIND = re.compile(r"(?:attn|mlp)/(\w+)_proj/kernel$")


def read_stats(path: pathlib.Path) -> list[dict]:
  return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def by_kind(records: list[dict]) -> dict[str, dict[str, np.ndarray]]:
  """Per layer type: arrays (steps, matrices) of every statistic, and ``step`` (steps,)."""
  out: dict[str, dict[str, list]] = {}
  for rec in records:
    rows: dict[str, dict[str, list]] = {}
    for name, leaf in rec["leaves"].items():
      kind = _KIND.search(name).group(1)
      for key, value in leaf.items():
        rows.setdefault(kind, {}).setdefault(key, []).append(value)
    for kind, stats in rows.items():
      dest = out.setdefault(kind, {"step": []})
      dest["step"].append(rec["step"])
      for key, values in stats.items():
        dest.setdefault(key, []).append(values)
  return {k: {key: np.asarray(v) for key, v in out[k].items()} for k in KINDS if k in out}


def table(records: list[dict]) -> str:
  """Per layer type, over every recorded step and matrix: φ's median and spread, how often
  the limiter cut the residual, its divisor when it did, the residual's share of the update."""
  rows = []
  for kind, s in by_kind(records).items():
    limited = s["limited"] > 0.5
    rho = s["rho"][limited]
    rows.append([
      kind, f"{np.median(s['phi_50']):.3g}",
      f"{np.median(s['phi_10']):.3g} – {np.median(s['phi_90']):.3g}",
      f"{np.median(s['phi_100'] / np.maximum(s['phi_0'], 1e-30)):.1f}",
      f"{100 * limited.mean():.0f}%", f"{np.median(rho):.2f}" if rho.size else "–",
      f"{np.mean(s['residual_share']):.2f}",
      f"{np.mean(s['low_rank_norm']):.3g} / {np.mean(s['residual_norm']):.3g}",
    ])  # fmt: skip
  header = ["layer", "φ median", "φ p10 – p90 (within a matrix)", "φ max/min",
            "limiter cut", "ρ when cut (median)", "residual share of ‖update‖",
            "‖α·back(N)‖ / ‖S‖ (mean)"]  # fmt: skip
  return markdown_table(header, rows)


GROUPS = {"q, k": ("q", "k"), "v, o": ("v", "o"), "MLP": ("gate", "up", "down")}
SUMMARY_HEADER = ["φ median (q, k / v, o / MLP)", "limiter cut (q, k / v, o / MLP)",
                  "ρ when cut (median)", "residual share of ‖update‖ (mean)"]  # fmt: skip


def summary(records: list[dict]) -> list[str]:
  """One run in one row (the cells of :data:`SUMMARY_HEADER`): per group of layer types
  (:data:`GROUPS`), the median over steps and matrices of each matrix's median φ and the share
  of (step, matrix) pairs the limiter cut; over all matrices, ρ's median where it cut and the
  residual's mean share of the update."""
  kinds = by_kind(records)
  pooled = lambda key, names: np.concatenate(  # noqa: E731
    [kinds[k][key].ravel() for k in names if k in kinds] or [np.zeros(0)]
  )
  phi = [pooled("phi_50", names) for names in GROUPS.values()]
  cut = [pooled("limited", names) > 0.5 for names in GROUPS.values()]
  every = tuple(kinds)
  limited, rho = pooled("limited", every) > 0.5, pooled("rho", every)
  fmt = lambda xs, f: " / ".join(f(x) if x.size else "–" for x in xs)  # noqa: E731
  return [
    fmt(phi, lambda x: f"{np.median(x):.3g}"),
    fmt(cut, lambda x: f"{100 * x.mean():.0f}%"),
    f"{np.median(rho[limited]):.2f}" if limited.any() else "–",
    f"{np.mean(pooled('residual_share', every)):.2f}",
  ]


def plot(records: list[dict], path: pathlib.Path, title: str) -> None:
  """Three panels over training: φ per layer type (median matrix, its p10–p90 band of
  channels), the share of matrices the limiter cut, the residual's share of the update."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
  for kind, s in by_kind(records).items():
    step = s["step"]
    (line,) = axes[0].plot(step, np.median(s["phi_50"], axis=1), label=kind)
    axes[0].fill_between(step, np.median(s["phi_10"], axis=1), np.median(s["phi_90"], axis=1),
                         color=line.get_color(), alpha=0.12)  # fmt: skip
    axes[1].plot(step, s["limited"].mean(axis=1), label=kind)
    axes[2].plot(step, s["residual_share"].mean(axis=1), label=kind)
  axes[0].set(yscale="log", xlabel="step", title="φ per channel (median matrix, p10–p90)")
  axes[1].set(xlabel="step", ylim=(-0.05, 1.05), title="share of matrices the limiter cut")
  axes[2].set(xlabel="step", ylim=(0, 1), title="‖S‖ / ‖update‖ (mean over matrices)")
  axes[2].legend(ncol=2, fontsize=8)
  fig.suptitle(title)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
