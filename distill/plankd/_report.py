"""The hw-plan comparison report, rendered from a runs file (one record per method, planner
size and training seed)."""

from __future__ import annotations

import pathlib
from collections.abc import Sequence

import numpy as np

from fira_jax.lab.results import field, group_runs, markdown_table
from fira_jax.lab.stats import fmt_pm, paired_by_key

__all__ = ["RUN_KEY", "METHOD_NAMES", "PAIRS", "render_report", "write_report"]

RUN_KEY = ("method", "settings.size", "seed")
METHOD_NAMES = {
  "teacher": "teacher",
  "alone": "student alone (B1)",
  "output_kd": "output KD (B2)",
  "feature_kd": "FitNet feature KD (B3)",
  "ib_only": "PlanKD, IB only (A1)",
  "attention_only": "PlanKD, attention only (A2)",
  "plankd": "PlanKD (P)",
  "plankd_sg": "PlanKD, L_w on sg(attention)",
  "plankd_fix": "PlanKD + plain L1, feasible margin",
}
# Paired driving-score differences shown: (method, baseline).
PAIRS = (
  ("plankd", "alone"),
  ("plankd_fix", "alone"),
  ("plankd_fix", "plankd"),
  ("plankd_sg", "alone"),
  ("ib_only", "alone"),
  ("attention_only", "alone"),
  ("output_kd", "alone"),
  ("feature_kd", "alone"),
)
_COLUMNS = (
  ("driving_score", "DS", 1.0, 1),
  ("route_completion", "RC %", 1.0, 1),
  ("infraction_penalty", "IP", 1.0, 3),
  ("collision_rate", "collision %", 1.0, 1),
  ("mean_speed", "speed m/s", 1.0, 1),
  ("l1", "L1 m", 1.0, 3),
  ("inference_ms", "ms/step", 1.0, 2),
)


def _episode_means(runs: Sequence[dict]) -> dict[str, float]:
  """Per test seed, the episode driving score averaged over the training seeds."""
  per: dict[str, list[float]] = {}
  for run in runs:
    for k, v in field(run, "metrics.episode_ds", {}).items():
      per.setdefault(k, []).append(float(v))
  return {k: float(np.mean(v)) for k, v in per.items()}


def _ds(run: dict) -> float:
  return float(field(run, "metrics.driving_score"))


def _not_run(runs: Sequence[dict], expected: Sequence[tuple[str, str, int]]) -> list[str]:
  """``expected`` (method, size, seed) cells without a run, as "method size: seeds ..."."""
  have = {(r["method"], field(r, "settings.size"), int(r["seed"])) for r in runs}
  missing: dict[tuple[str, str], list[int]] = {}
  for method, size, seed in expected:
    if (method, size, int(seed)) not in have:
      missing.setdefault((method, size), []).append(int(seed))
  return [
    f"{METHOD_NAMES.get(m, m)} {z}: seeds {', '.join(map(str, s))}" for (m, z), s in missing.items()
  ]


def render_report(
  runs: Sequence[dict],
  *,
  title: str,
  notes: str = "",
  expected: Sequence[tuple[str, str, int]] = (),
) -> str:
  """The Markdown report: one table per planner size, rows by method, the paired differences
  (PlanKD − student alone and the rest of :data:`PAIRS`) over test episodes, on the training
  seeds both sides have, the teacher's row,
  and the ``expected`` (method, size, seed) runs that are missing (e.g. over a time budget)."""
  order = list(METHOD_NAMES)
  groups = group_runs(runs, ("settings.size", "method"))
  sizes = []
  for size, _ in groups:
    if size not in sizes:
      sizes.append(size)
  lines = [f"# {title}", ""]
  if notes:
    lines += [notes, ""]
  header = ["method", "seeds", *[c[1] for c in _COLUMNS]]
  deltas = []
  for size in sizes:
    rows = []
    for method in order:
      rs = groups.get((size, method))
      if not rs:
        continue
      cells = [METHOD_NAMES[method], str(len(rs))]
      for key, _, scale, digits in _COLUMNS:
        vals = [field(r, f"metrics.{key}", None) for r in rs]
        vals = [v for v in vals if v is not None]
        cells.append(fmt_pm(vals, scale=scale, digits=digits) if vals else "—")
      rows.append(cells)
    params = field(
      (groups.get((size, "alone")) or next(v for k, v in groups.items() if k[0] == size))[0],
      "settings.params",
      "?",
    )
    lines += [f"## {size} ({params:,} parameters)" if isinstance(params, int) else f"## {size}", ""]
    lines += [markdown_table(header, rows), ""]
    for method, base in PAIRS:
      other, ref = groups.get((size, method)), groups.get((size, base))
      if not ref or not other:
        continue
      common = {r["seed"] for r in other} & {r["seed"] for r in ref}
      other = [r for r in other if r["seed"] in common]
      ref = [r for r in ref if r["seed"] in common]
      d = paired_by_key(_episode_means(other), _episode_means(ref))
      if d is not None:
        name = "alone" if base == "alone" else METHOD_NAMES[base]
        by_seed = paired_by_key(*({r["seed"]: _ds(r) for r in rs} for rs in (other, ref)))
        deltas.append(
          [
            size,
            f"{METHOD_NAMES[method]} − {name}",
            d.fmt(1),
            str(d.n),
            by_seed.fmt(1),
            str(by_seed.n),
          ]
        )
  if deltas:
    lines += [
      "## Paired differences in driving score (95% intervals)",
      "",
      "By test episode: each episode's score averaged over the training seeds both sides have "
      "(the spread between test scenes only). By training seed: each seed's driving score "
      "(the spread between training runs, with very few degrees of freedom).",
      "",
      markdown_table(
        ["size", "difference", "Δ DS by episode", "episodes", "Δ DS by training seed", "seeds"],
        deltas,
      ),
      "",
    ]
  gaps = _not_run(runs, expected)
  if gaps:
    lines += ["## Not run (over the time budget)", "", *[f"- {g}" for g in gaps], ""]
  return "\n".join(lines)


def write_report(runs: Sequence[dict], path: str | pathlib.Path, **kwargs) -> str:
  """Renders and writes the report; returns its text."""
  text = render_report(runs, **kwargs)
  pathlib.Path(path).write_text(text + "\n", encoding="utf-8")
  return text
