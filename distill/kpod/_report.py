"""The Markdown report of a KPOD comparison, rendered from its runs (one record per method and
seed, the format of :mod:`fira_jax.lab.results`).

A run's ``settings`` are its :class:`KPODConfig` as a dict; its ``metrics`` hold ``accuracy``
and ``ood_accuracy`` (exact match in ``[0, 1]``), ``curve`` (accuracy on the first
``curve_size`` test problems after each epoch), ``train_seconds``, ``weight_stats`` (per token
kind: mean, std and count of the learned keep probabilities) and ``sample`` (a generation).
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence

import numpy as np

from distill.kpod._experiment import METHODS, KPODConfig
from distill.kpod._keypoints import TRACE_KINDS
from fira_jax.lab.results import group_runs, markdown_table
from fira_jax.lab.stats import fmt_pm, paired_by_key

__all__ = ["LABELS", "NOTES_MARKER", "PAPER", "config_of", "render_report", "write_report"]

# Paper (Feng et al., ICML 2024, Table 1), accuracy %: LLaMA-7B student.
PAPER = {
  "KPOD": {"GSM8K": 46.74, "ASDiv": 71.02, "SVAMP": 68.67, "CSQA": 77.89},
  "next best (MCC-KD)": {"GSM8K": 41.58, "ASDiv": 65.76, "SVAMP": 64.67, "CSQA": 76.41},
}
LABELS = {
  "answer_only": "answer only",
  "cot": "CoT distillation (uniform token loss)",
  "weighting": "token weighting only",
  "progressive": "progressive schedule only",
  "kpod": "KPOD (weighting + progressive)",
}
# Text below this line in an existing report is hand-written and kept when it is re-rendered.
NOTES_MARKER = (
  "<!-- notes: the text below is written by hand and kept when the report is re-rendered -->"
)
_KINDS = ("digit", "operand", "result", "final result", "operator", "other")


def config_of(runs: Sequence[dict]) -> KPODConfig:
  """The :class:`KPODConfig` the runs share; ``ValueError`` if their settings differ."""
  if not runs:
    raise ValueError("no runs")
  first = runs[0]["settings"]
  for run in runs[1:]:
    if run["settings"] != first:
      diff = sorted(k for k in {*first, *run["settings"]} if first.get(k) != run["settings"].get(k))
      raise ValueError(
        f"the runs were trained with different settings ({', '.join(diff)}); "
        "a report covers runs of one configuration"
      )
  return KPODConfig.from_dict(first)


def _machines_line(runs: Sequence[dict], fallback: str | None, *, live: bool) -> str:
  """The machines the runs record (``fallback`` for runs without one); ``live`` (a run in
  progress) adds a warning when the load average exceeds the core count."""
  machines = sorted({r["machine"] for r in runs if r.get("machine")})
  if fallback and fallback not in machines and any(not r.get("machine") for r in runs):
    machines.append(fallback)
  line = "Machine: " + ("; ".join(machines) or "not recorded") + "."
  load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
  if live and load > (os.cpu_count() or 1):
    line += (
      " The machine was shared with other jobs (load average above the core count), so "
      "wall-clock times are indicative only."
    )
  return line


def _metric(runs: Sequence[dict], name: str) -> list:
  return [r["metrics"][name] for r in runs]


def _setup(cfg: KPODConfig) -> str:
  p = cfg.problems
  return (
    "Setup: student `fira_jax.models.Llama` "
    f"(d_model={cfg.d_model}, {cfg.num_layers} layers, {cfg.num_heads} heads, "
    f"ffn {cfg.ffn_dim}) trained from scratch, AdamW lr {cfg.learning_rate}, batch "
    f"{cfg.batch_size}, {cfg.epochs} epochs over {cfg.num_train} generated problems of "
    f"{p.min_steps}-{p.max_steps} steps (filler probability {p.filler_prob}, "
    f"{p.num_distractors} distractor sentence); test: {cfg.num_test} problems in distribution, "
    f"{cfg.num_ood} with {p.max_steps + 1}-{p.max_steps + cfg.ood_extra_steps} steps "
    f"(longer chains). Progressive stages T = {cfg.num_stages} (one per epoch, then the "
    f"whole rationale); token weighting module: {cfg.weighting_steps} steps "
    f"({cfg.weighting_warmup} predictor warm-up) on {max(cfg.weighting_pool, cfg.num_train)} "
    f"problems (answer predictor {'frozen' if cfg.freeze_predictor else 'trained on'} after "
    f"the warm-up), {cfg.weighting_positions} positions in its self-attention, "
    f"α = {cfg.alpha}; K = {cfg.num_clusters} clusters, β = {cfg.beta}, Δs = {cfg.delta_steps}. "
    "Greedy decoding, exact match of the final `#### N`."
  )


def _accuracy_table(by_method: dict[str, list[dict]]) -> list[str]:
  arithmetic = all("step_arithmetic" in r["metrics"] for rs in by_method.values() for r in rs)
  rows = []
  for m, rs in by_method.items():
    per = ", ".join(
      f"{100 * r['metrics']['accuracy']:.1f}/{100 * r['metrics']['ood_accuracy']:.1f}" for r in rs
    )
    rows.append(
      [
        LABELS[m],
        fmt_pm(_metric(rs, "accuracy"), scale=100, digits=1),
        fmt_pm(_metric(rs, "ood_accuracy"), scale=100, digits=1),
        per,
        f"{np.mean(_metric(rs, 'train_seconds')):.0f}",
      ]
    )
    if arithmetic:
      rows[-1].insert(3, fmt_pm(_metric(rs, "step_arithmetic"), scale=100, digits=1))
  header = ["method", "in distribution", "longer chains (OOD)", "per seed (ID / OOD)"]
  if arithmetic:
    header.insert(3, "right equations in ID generations")
  return [
    "## Exact-match accuracy (%), mean ± std over seeds",
    "",
    markdown_table([*header, "train s/run"], rows),
  ]


def _paired_table(by_method: dict[str, list[dict]]) -> list[str]:
  """Paired differences against CoT over the seeds both ran (percentage points)."""
  if "cot" not in by_method:
    return []
  cot = {
    name: {r["seed"]: r["metrics"][name] for r in by_method["cot"]}
    for name in ("accuracy", "ood_accuracy")
  }
  rows = []
  for m, rs in by_method.items():
    if m == "cot":
      continue
    cells = []
    for name in ("accuracy", "ood_accuracy"):
      d = paired_by_key({r["seed"]: r["metrics"][name] for r in rs}, cot[name])
      cells.append("–" if d is None else d.fmt(1, scale=100))
    n = len({r["seed"] for r in rs} & set(cot["accuracy"]))
    rows.append([LABELS[m], *cells, n])
  if not rows:
    return []
  return [
    "",
    "## Paired difference against CoT distillation (percentage points, mean [95% t interval] "
    "over the seeds both ran)",
    "",
    markdown_table(["method", "in distribution", "longer chains (OOD)", "seeds"], rows),
  ]


def _curve_table(by_method: dict[str, list[dict]], cfg: KPODConfig) -> list[str]:
  rows = []
  for m, rs in by_method.items():
    curves = np.asarray(_metric(rs, "curve"))
    rows.append([LABELS[m], *(f"{100 * c:.0f}" for c in curves.mean(0))])
  return [
    "",
    "## In-distribution accuracy (%) after each epoch "
    f"(first {cfg.curve_size} test problems, mean over seeds)",
    "",
    markdown_table(["method", *(str(e + 1) for e in range(cfg.epochs))], rows),
  ]


def _weights_table(runs: Sequence[dict]) -> list[str]:
  stats = {
    r["seed"]: r["metrics"]["weight_stats"] for r in runs if r["metrics"].get("weight_stats")
  }
  if not stats:
    return []
  split = all("=" in st for st in stats.values())  # runs that record `+ - *` and `=` apart
  kinds = (*_KINDS[:4], "+ - *", "=", "other") if split else _KINDS
  rows = [
    [seed, *(f"{st[k][0]:.3f} ± {st[k][1]:.3f} ({st[k][2]:,})" if k in st else "–" for k in kinds)]
    for seed, st in sorted(stats.items())
  ]
  header = ["seed", "all digits", "operand digits", "result digits", "final-result digits"]
  header += ["`+ - *`", "`=`"] if split else ["operators (`+ - * =`)"]
  return [
    "",
    "## Learned token weights (keep probability on the training rationales, mean ± std)",
    "",
    "Digits are split into operands, results (after an `=`) and the final result (after the "
    "last `=`, the number the answer repeats); other tokens are the filler (words, names, "
    "punctuation); counts in parentheses.",
    "",
    markdown_table([*header, "other tokens"], rows),
    *_trace_table(runs),
  ]


def _trace_table(runs: Sequence[dict]) -> list[str]:
  """Mean keep probability per token kind along the weighting module's training."""
  traces = {
    r["seed"]: r["metrics"]["weight_trace"] for r in runs if r["metrics"].get("weight_trace")
  }
  if not traces:
    return []
  by_step = group_runs([t for trace in traces.values() for t in trace], lambda t: t["step"])
  rows = [
    [step, *(f"{np.mean([t[k] for t in points]):.3f}" for k in TRACE_KINDS)]
    for step, points in sorted(by_step.items())
  ]
  return [
    "",
    f"Keep probability per kind along the module's training (first 256 training rationales, "
    f"mean over {len(traces)} seed{'s' if len(traces) != 1 else ''}):",
    "",
    markdown_table(["step", "digits", "final-result digits", "`+ - *`", "`=`", "other"], rows),
  ]


def _paper_table() -> list[str]:
  rows = [[name, *(f"{v:.2f}" for v in row.values())] for name, row in PAPER.items()]
  gain = {k: PAPER["KPOD"][k] - PAPER["next best (MCC-KD)"][k] for k in PAPER["KPOD"]}
  rows.append(["gain", *(f"+{v:.2f}" for v in gain.values())])
  return [
    "",
    "## The paper's reported numbers (accuracy %, LLaMA-7B student, GPT-3.5 teacher)",
    "",
    markdown_table(["method", *PAPER["KPOD"]], rows),
  ]


def _sample_lines(kpod_runs: Sequence[dict], seed: int, sample: str) -> list[str]:
  """The KPOD student's generation for the first test problem, beside the reference."""
  lines = [
    f"Sample generation (the KPOD student's greedy decoding, seed {seed}, first test problem; "
    f"its arithmetic errors are the student's): `{sample}`",
    "",
  ]
  reference = kpod_runs[0]["metrics"].get("sample_reference") if kpod_runs else None
  if reference:
    lines += [f"Reference rationale (the generator's; every step checked): `{reference}`", ""]
  return lines


def render_report(
  runs: Sequence[dict],
  *,
  command: str,
  seconds: float | None = None,
  machine: str | None = None,
  merged: Sequence[pathlib.Path] | None = None,
) -> str:
  """The Markdown report of ``runs`` (all of one configuration, see :func:`config_of`).

  Args:
    runs: run records (see the module docstring).
    command: the command that produced the report.
    seconds: total wall time of a run in progress (a live report).
    machine: the machine of runs that do not record one.
    merged: the runs files a merged report was rendered from (None: a live report).
  """
  cfg = config_of(runs)
  order = {m: i for i, m in enumerate(METHODS)}
  runs = sorted(runs, key=lambda r: (r["seed"], order.get(r["method"], len(order))))
  by_method = group_runs(runs, lambda r: r["method"])
  by_method = {m: by_method[m] for m in LABELS if m in by_method}
  seeds = sorted({r["seed"] for r in runs})
  if merged is None:
    origin = f"Total wall time: {(seconds or 0.0) / 60:.1f} min. Seeds: {seeds}."
  else:
    commands = list(dict.fromkeys(r["command"] for r in runs if r.get("command")))
    trained_by = "; ".join(f"`{c}`" for c in commands[:2])
    if len(commands) > 2:
      trained_by = f"`{commands[0]}` and {len(commands) - 1} more (each run records its own)"
    origin = (
      f"Merged from {len(merged)} runs file{'s' if len(merged) != 1 else ''} "
      f"({', '.join(f'`{pathlib.Path(m).name}`' for m in merged)}): {len(runs)} runs, trained "
      f"by {trained_by}. Training time per run in the table. Seeds: {seeds}."
    )
  kpod = by_method.get("kpod", [])
  sample = kpod[0]["metrics"]["sample"] if kpod else "n/a"
  sample_seed = kpod[0]["seed"] if kpod else seeds[0]
  lines = [
    "# KPOD end to end on generated multi-step arithmetic problems",
    "",
    f"Command: `{command}`",
    "",
    _machines_line(runs, machine, live=merged is None),
    "",
    origin,
    "",
    _setup(cfg),
    "",
    *_accuracy_table(by_method),
    *_paired_table(by_method),
    *_curve_table(by_method, cfg),
    *_weights_table(runs),
    *_paper_table(),
    "",
    "The paper distils a pretrained 7B student from GPT-3.5 rationales on real benchmarks; "
    "here a tiny student learns arithmetic from scratch on synthetic rationales, so only the "
    "ordering of the methods is comparable, not the accuracies.",
    "",
    *_sample_lines(kpod, sample_seed, sample),
  ]
  return "\n".join(lines)


def write_report(path: str | pathlib.Path, runs: Sequence[dict], **kwargs) -> pathlib.Path:
  """Writes :func:`render_report` to ``path``; hand-written notes below :data:`NOTES_MARKER` in
  an existing report are kept."""
  path = pathlib.Path(path)
  text = render_report(runs, **kwargs)
  if path.is_file():
    old = path.read_text(encoding="utf-8")
    if NOTES_MARKER in old:
      text += "\n" + NOTES_MARKER + old.split(NOTES_MARKER, 1)[1]
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(text, encoding="utf-8")
  return path
