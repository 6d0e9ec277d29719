"""A fair pre-training comparison: every method at its own tuned learning rates, then 3 seeds.

For each size and method the script tunes two peak learning rates on the same warm-up + cosine
schedule: ``lr``, the rate of the projected attention/MLP matrices (every parameter's rate for
AdamW and LoRA's adapters), and ``rest_lr``, the rate of everything else (embedding, norms,
output head: plain AdamW under every method; ``fira-jax train --rest-lr``). At these sizes the
embedding and head are most of the parameters, so a single rate compares the embedding's rate
more than the optimizers. Coordinate search, seed 0:

1. ``lr`` over the method's log grid (at least 5 values spanning the papers' choices) with
   ``rest_lr`` fixed at ``--rest-lr-start``;
2. ``rest_lr`` over :data:`REST_GRID` at the best ``lr``;
3. ``lr`` again at the best ``rest_lr`` (only the points not yet run).

A best value at a grid edge extends that grid by one step (at most ``--max-extend`` times),
so no reported optimum sits on an edge. Then the best pair runs with ``--seeds`` (seed 0 is
reused). Every finished run is appended to the runs file at once (one record per run:
method, seed, settings with ``lr``/``rest_lr``/``phase``, metrics, machine, command); runs
already there are skipped, so an interrupted sweep resumes. The report
(``pretrain_sweep.md`` + ``.png``) is rendered from the runs file: the sweep grids, the final
table (validation perplexity mean ± std over seeds, paired difference against AdamW with a 95%
interval, optimizer-state bytes, tokens/s) and the ordering, beside the Fira paper's.

Every run holds its rates in the optimizer state (``fira-jax train --traced-rates``) and the
script keeps a persistent XLA cache in ``--run-dir``, so a method's runs share one compiled
step (compiling it is most of a tiny model's run on a CPU). ``--steps``/``--gap`` override the
size's steps and projector gap; ``--deadline HH:MM`` (UTC) starts no run that would end after
it (judged by the slowest run so far) and lists the points it left out in the report;
``--refine neighbours`` re-searches lr around its best only (``none``: not at all);
``--diagnose-every N`` (or ``--diagnose-only``) reruns Fira at its tuned rates recording its
residual statistics (``fira_jax.fira_statistics``) for the report, and ``--diagnose-at LR
REST_LR`` (repeatable) records them at other pairs too, compared in one table. Several processes may
share one runs file when each takes other ``--methods``.

Usage (CPU; the full setting takes days on 2 cores — see the report for the measured rates)::

    PYTHONPATH=. nice python benchmarks/fira/pretrain_sweep.py --sizes llama_tiny llama_small
    PYTHONPATH=. python benchmarks/fira/pretrain_sweep.py --smoke --out /tmp/sweep  # minutes
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import pathlib
import shutil
import sys
import time

import numpy as np

from fira_jax.lab.results import (
  append_run,
  command_line,
  field,
  make_record,
  markdown_table,
  read_runs,
)
from fira_jax.lab.stats import fmt_pm, paired_delta

RESULTS = pathlib.Path(__file__).resolve().parents[1] / "results" / "fira"
LOW = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1)  # GaLore/Fira/APOLLO: the papers use 0.01
FULL_RANK = (3e-4, 1e-3, 3e-3, 1e-2, 3e-2)  # AdamW/LoRA: the papers use 0.001
# name: (optimizer, Fira options, lr grid)
METHODS = {
  "adamw": ("adamw", {}, FULL_RANK),
  "galore": ("galore", {}, LOW),
  "fira": ("fira", {}, LOW),
  "fira_no_scaling": ("fira", {"norm_scaling": "none"}, LOW),
  "fira_no_limiter": ("fira", {"gamma": None}, LOW),
  "lora": ("lora", {}, FULL_RANK),
  "apollo": ("apollo", {}, LOW),
  "apollo_mini": ("apollo_mini", {}, LOW),
}
REST_GRID = (3e-4, 1e-3, 3e-3, 1e-2)
# Per size: steps, batch, sequence (the larger size gets 8x the tokens of today's 600 x 8 x 128).
SIZES = {
  "llama_tiny": dict(steps=600, batch_size=8, seq_len=128),
  "llama_small": dict(steps=1200, batch_size=32, seq_len=128),
  "smoke": dict(steps=6, batch_size=8, seq_len=32),
}
# One run: a different --steps is a different run (it must not be reused as done).
KEY = ("settings.model", "settings.steps", "method", "seed", "settings.lr", "settings.rest_lr")
SKIPPED = "pretrain_sweep_skipped.jsonl"  # points a time budget left out, one JSON line each
# The Fira paper, LLaMA-60M on C4 (validation perplexity): its ordering to compare with ours.
PAPER_60M = {"fira": 31.06, "fira_no_limiter": 32.22, "adamw": 34.06, "galore": 34.88,
             "fira_no_scaling": 37.06, "apollo": 31.55, "apollo_mini": 30.95}  # fmt: skip


def _extend(grid: tuple[float, ...], best: float) -> tuple[float, ...] | None:
  """``grid`` with one more step beyond ``best`` when ``best`` is at an edge, else None."""
  values = sorted(grid)
  if len(values) < 2:  # a single value has no step to extend by
    return None
  if best == values[0]:
    return (values[0] * values[0] / values[1], *values)
  if best == values[-1]:
    return (*values, values[-1] * values[-1] / values[-2])
  return None


class Sweep:
  """Runs (or finds in the runs file) one training run per point, and tracks the best."""

  def __init__(self, args: argparse.Namespace, command: str):
    self.args, self.command = args, command
    self.runs_file = args.out / "pretrain_sweep_runs.jsonl"
    self.done: dict[tuple, dict] = {}
    self.walls: list[float] = []  # seconds per run trained by this process
    self.deadline = getattr(args, "deadline", None)  # time.time() after which nothing starts
    if self.runs_file.is_file():
      for r in read_runs(self.runs_file, key=KEY):
        self.done[tuple(field(r, k) for k in KEY)] = r

  def fits(self) -> bool:
    """Whether one more run (as long as the slowest so far here) ends before ``--deadline``."""
    if self.deadline is None or not self.walls:
      return self.deadline is None or time.time() < self.deadline
    return time.time() + max(self.walls) <= self.deadline

  def skip(self, size: str, name: str, lr: float, rest_lr: float, seed: int, phase: str) -> None:
    """Records a point the time budget left out (``pretrain_sweep_skipped.jsonl``)."""
    record = {"model": size, "method": name, "lr": lr, "rest_lr": rest_lr, "seed": seed,
              "phase": phase, "at": time.strftime("%H:%M UTC", time.gmtime())}  # fmt: skip
    with (self.args.out / SKIPPED).open("a", encoding="utf-8") as f:
      f.write(json.dumps(record) + "\n")
    print(f"skipped (time budget): {record}", flush=True)

  def config(self, size: str, name: str, lr: float, rest_lr: float, seed: int, out) -> dict:
    """The :class:`fira_jax.train.TrainConfig` fields of one point."""
    optimizer, options, _ = METHODS[name]
    shape = dict(SIZES[size], steps=self.steps(size))
    extra = {"update_proj_gap": self.args.gap} if getattr(self.args, "gap", None) else {}
    return dict(
      out=str(out), model=size, optimizer=optimizer, lr=lr, rest_lr=rest_lr, seed=seed,
      fira_options=dict(options), data=self.args.data, vocab_size=self.args.vocab_size,
      tokenizer=self.args.tokenizer,
      eval_every=self.args.eval_every, eval_batches=self.args.eval_batches,
      checkpoint_every=10**9, log_every=10, progress=not self.args.quiet, **shape, **extra,
      traced_rates=True,  # with the compilation cache: one compiled step per method
    )  # fmt: skip

  def steps(self, size: str) -> int:
    """Optimizer steps of a run at ``size`` (``--steps`` overrides the size's)."""
    return getattr(self.args, "steps", None) or SIZES[size]["steps"]

  @property
  def _tokenizer_file(self) -> pathlib.Path:
    name = f"tokenizer_{self.args.data}_{self.args.vocab_size}.json"
    return self.args.run_dir / name.replace(":", "_").replace("/", "_")

  def _share_tokenizer(self, out: pathlib.Path, *, after: bool) -> None:
    """Keeps the first run's BPE tokenizer (``after``) and copies it into each later run's
    folder, where training finds and reuses it: every run shares one tokenizer, trained once."""
    shared, own = self._tokenizer_file, out / "tokenizer.json"
    if self.args.tokenizer != "bpe":
      return
    if after and not shared.is_file() and own.is_file():
      shutil.copy(own, shared)
    elif not after and shared.is_file():
      out.mkdir(parents=True)
      shutil.copy(shared, own)

  def run(
    self, size: str, name: str, lr: float, rest_lr: float, seed: int, phase: str
  ) -> float | None:
    """Validation perplexity of one point (trained now unless already in the runs file);
    None when ``--deadline`` leaves no time for it (the skip is recorded)."""
    key = (size, self.steps(size), name, seed, lr, rest_lr)
    if key not in self.done:
      from fira_jax.train import NonFiniteError, TrainConfig, train

      if not self.fits():
        self.skip(size, name, lr, rest_lr, seed, phase)
        return None
      out = self.args.run_dir / f"{size}_{name}_lr{lr:g}_rest{rest_lr:g}_s{seed}"
      if out.exists():
        shutil.rmtree(out)
      self._share_tokenizer(out, after=False)
      start = time.time()
      config = TrainConfig(**self.config(size, name, lr, rest_lr, seed, out))
      try:
        summary = train(config)
      except NonFiniteError:  # diverged: recorded as such, the search goes on
        summary = {**_diverged(), "config": dataclasses.asdict(config)}
      if summary["stopped"] not in (None, "non-finite"):  # SIGTERM: record nothing, stop
        raise SystemExit(f"stopped ({summary['stopped']}); rerun to resume the sweep")
      self.walls.append(time.time() - start)
      self._share_tokenizer(out, after=True)
      keys = ("val_ppl", "val_loss", "tokens_per_s", "optimizer_state_bytes", "params")
      metrics = {k: summary[k] for k in (*keys, "frozen_params")}
      metrics["wall_s"] = round(self.walls[-1], 1)
      if metrics["val_ppl"] is None or not math.isfinite(metrics["val_ppl"]):
        metrics["val_ppl"] = float("inf")
      settings = {**summary["config"], "lr": lr, "rest_lr": rest_lr, "phase": phase}
      record = make_record(name, seed, settings, metrics, command=self.command)
      append_run(self.runs_file, record)
      self.done[key] = record
      shutil.rmtree(out, ignore_errors=True)  # checkpoints are not needed once recorded
    return self.done[key]["metrics"]["val_ppl"]

  def best_over(self, size, name, grid, fixed, axis: str, phase: str) -> tuple[float, tuple]:
    """Best value along ``axis`` ("lr" or "rest_lr"), extending the grid at an edge (at most
    ``--max-extend`` times; the report marks a best value still at an edge)."""
    for i in range(self.args.max_extend + 1):
      scores = {}
      for v in grid:
        lr, rest = (v, fixed) if axis == "lr" else (fixed, v)
        score = self.run(size, name, lr, rest, 0, phase)
        if score is not None:  # None: left out by the time budget
          scores[v] = score
      if not scores:
        return None, tuple(sorted(grid))
      best = min(scores, key=scores.get)
      wider = _extend(grid, best)
      if wider is None or i == self.args.max_extend:
        return best, tuple(sorted(grid))
      grid = wider
    raise AssertionError("unreachable")

  def method(self, size: str, name: str) -> tuple[float, float]:
    """Coordinate search of (lr, rest_lr) for one method; returns the best pair."""
    lr_grid = self.args.lr_grid or METHODS[name][2]
    rest_grid = self.args.rest_grid or REST_GRID
    lr, lr_grid = self.best_over(size, name, lr_grid, self.args.rest_lr_start, "lr", "lr")
    if lr is None:
      return None, None
    rest, _ = self.best_over(size, name, rest_grid, lr, "rest_lr", "rest_lr")
    if rest is None:
      rest = self.args.rest_lr_start
    refine = getattr(self.args, "refine", "grid")
    if rest != self.args.rest_lr_start and refine != "none":  # the lr optimum may have moved
      again = lr_grid
      if refine == "neighbours":  # the best lr and its neighbours
        i = lr_grid.index(lr)
        again = lr_grid[max(i - 1, 0) : i + 2]
      new_lr, _ = self.best_over(size, name, again, rest, "lr", "lr_again")
      lr = lr if new_lr is None else new_lr
    for seed in self.args.seeds:
      self.run(size, name, lr, rest, seed, "seeds")
    return lr, rest


# -- report ---------------------------------------------------------------------------------


def best_pairs(runs: list[dict]) -> dict[tuple[str, str], tuple[float, float]]:
  """(size, method) → its best (lr, rest_lr): the lowest finite seed-0 validation perplexity.

  The other seeds are run at that pair; a pair found later (a wider grid) that beats it is
  reported with the seeds it has (the table's ``seeds`` column says which).
  """
  out, best = {}, {}
  for r in runs:
    ppl = r["metrics"]["val_ppl"]
    if r["seed"] != 0 or ppl is None or not math.isfinite(ppl):
      continue
    key = (field(r, "settings.model"), r["method"])
    if key not in best or ppl < best[key]:
      best[key], out[key] = ppl, (r["settings"]["lr"], r["settings"]["rest_lr"])
  return out


LIMITED = {"fira", "fira_no_scaling", "apollo", "apollo_mini"}  # one float32 norm per matrix


def analytic_state_bytes(name: str, run: dict) -> int:
  """The optimizer state's bytes by formula (float32, scalar step counts left out).

  With P trainable parameters: AdamW and LoRA keep two moments, ``8 P``. The low-rank methods
  keep them for the parameters that are not projected (embedding, head, norms) and, per
  projected ``(m, n)`` matrix at rank ``r``, the moments of the ``max(m, n) × r`` low-rank
  gradient and the ``min(m, n) × r`` basis: ``4 (2 max(m, n) + min(m, n)) r``, plus one norm
  (4 bytes) for the growth limiter (Fira, APOLLO). APOLLO-Mini's rank is 1.
  """
  from fira_jax.models import get_config

  m = run["metrics"]
  if name in ("adamw", "lora"):  # ``params`` counts the trainable ones (LoRA: not the kernels)
    return 8 * m["params"]
  cfg = get_config(run["settings"]["model"])
  d, f, layers = cfg.d_model, cfg.ffn_dim, cfg.num_layers
  rank = 1 if name == "apollo_mini" else run["settings"]["rank"]
  shapes = [(d, d)] * 4 + [(d, f)] * 3
  projected = layers * sum(a * b for a, b in shapes)
  per_layer = sum(4 * (2 * max(a, b) + min(a, b)) * min(rank, a, b) for a, b in shapes)
  limiter = 4 * len(shapes) if name in LIMITED else 0
  return 8 * (m["params"] - projected) + layers * (per_layer + limiter)


def _diverged() -> dict:
  """The summary of a run stopped after too many non-finite steps (diverged)."""
  keys = ("val_ppl", "val_loss", "tokens_per_s", "optimizer_state_bytes", "params")
  return {"stopped": "non-finite", "frozen_params": None, **dict.fromkeys(keys)}


def _edge(runs, size, name, axis, value, other, other_value) -> str:
  """`` (edge)`` when ``value`` is the smallest or largest ``axis`` value tried (seed 0) at
  ``other = other_value``: the optimum may lie beyond the grid. Where that was the only value
  tried there, the grid is the one at the ``other`` value with the most points, and the mark
  says so (`` (scanned at rest_lr 0.01)``, `` (edge; scanned at rest_lr 0.01)``)."""
  pts = [r["settings"] for r in runs if r["method"] == name and r["seed"] == 0
         and field(r, "settings.model") == size]  # fmt: skip
  grids: dict[float, set] = {}
  for st in pts:
    grids.setdefault(st[other], set()).add(st[axis])
  tried, where = sorted(grids.get(other_value, ())), ""
  if len(tried) < 2 and grids:
    at = max(grids, key=lambda o: (len(grids[o]), value in grids[o]))
    tried, where = sorted(grids[at]), f"scanned at {other} {at:g}"
  if len(tried) < 2:
    return ""
  edge = "edge" if value in (tried[0], tried[-1]) else ""
  return f" ({'; '.join(x for x in (edge, where) if x)})" if edge or where else ""


def _tokens(runs) -> str:
  values = [r["metrics"]["tokens_per_s"] for r in runs if r["metrics"].get("tokens_per_s")]
  return f"{np.mean(values):,.0f}" if values else "–"


def _ppl(x: float) -> str:
  return "diverged" if not math.isfinite(x) else f"{x:.2f}"


def sweep_table(runs: list[dict], size: str) -> str:
  """Seed-0 validation perplexity per method over every (lr, rest_lr) tried."""
  rows = []
  for name in METHODS:
    pts = [r for r in runs if r["method"] == name and r["seed"] == 0
           and field(r, "settings.model") == size]  # fmt: skip
    if not pts:
      continue
    pts.sort(key=lambda r: (r["settings"]["rest_lr"], r["settings"]["lr"]))
    cells = [f"{r['settings']['lr']:g}/{r['settings']['rest_lr']:g}: "
             f"{_ppl(r['metrics']['val_ppl'])}" for r in pts]  # fmt: skip
    rows.append([name, "; ".join(cells)])
  return markdown_table(["method", "lr / rest_lr: validation ppl (seed 0)"], rows)


def final_table(runs: list[dict], size: str) -> tuple[str, list[str]]:
  """Mean ± std over seeds at each method's best pair, Δ vs AdamW; and the ordering."""
  best = best_pairs(runs)
  per = {}
  for name in METHODS:
    if (size, name) not in best:
      continue
    lr, rest = best[(size, name)]
    per[name] = {r["seed"]: r for r in runs if r["method"] == name and
                 field(r, "settings.model") == size and r["settings"]["lr"] == lr and
                 r["settings"]["rest_lr"] == rest}  # fmt: skip
  ppls = {n: {s: r["metrics"]["val_ppl"] for s, r in by.items()} for n, by in per.items()}

  def delta(name: str, ref: str) -> str:
    a, b = ppls[name], ppls.get(ref, {})
    common = sorted(set(a) & set(b))
    if name == ref or len(common) < 2:
      return "–"
    return paired_delta([a[s] for s in common], [b[s] for s in common]).fmt()

  rows, means = [], {}
  for name, by_seed in per.items():
    ppl = ppls[name]
    means[name] = float(np.mean(list(ppl.values())))
    r0 = next(iter(by_seed.values()))
    lr, rest = r0["settings"]["lr"], r0["settings"]["rest_lr"]
    measured = r0["metrics"]["optimizer_state_bytes"]
    formula = analytic_state_bytes(name, r0)
    rows.append([
      name, f"{lr:g}{_edge(runs, size, name, 'lr', lr, 'rest_lr', rest)}",
      f"{rest:g}{_edge(runs, size, name, 'rest_lr', rest, 'lr', lr)}",
      ", ".join(str(s) for s in sorted(ppl)), fmt_pm(list(ppl.values()), digits=2),
      delta(name, "adamw"), delta(name, "fira"),
      f"{measured / 2**20:.3f}", f"{formula / 2**20:.3f} ({measured - formula:+d} B)",
      _tokens(by_seed.values()),
      str(PAPER_60M.get(name, "–")),
    ])  # fmt: skip
  header = ["method", "lr", "rest_lr", "seeds", "val. ppl", "Δ vs AdamW (95% CI)",
            "Δ vs Fira (95% CI)", "state MiB", "formula MiB (measured − formula)", "tokens/s",
            "paper 60M ppl"]  # fmt: skip
  order = sorted(means, key=means.get)
  return markdown_table(header, rows), order


NOTES = "<!-- notes: kept when the report is re-rendered -->"
STATS = "pretrain_sweep_fira_stats.jsonl"  # Fira's residual branch in one tuned run


def plot_sweep(runs: list[dict], path: pathlib.Path) -> None:
  """Per size: validation perplexity (seed 0) against lr at the rest_lr where each method's lr
  was scanned (its best rest_lr when 3+ lr values were tried there, else the one with the most
  lr values; marked ``@``), and against rest_lr at its best lr."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  best = best_pairs(runs)
  sizes = list(dict.fromkeys(field(r, "settings.model") for r in runs))
  fig, axes = plt.subplots(len(sizes), 2, figsize=(13, 4.5 * len(sizes)), squeeze=False)
  for row, size in zip(axes, sizes, strict=True):
    floor = []
    for name in METHODS:
      if (size, name) not in best:
        continue
      lr, rest = best[(size, name)]
      pts = [r for r in runs if r["method"] == name and r["seed"] == 0
             and field(r, "settings.model") == size]  # fmt: skip
      counts: dict[float, int] = {}
      for r in pts:
        counts[r["settings"]["rest_lr"]] = counts.get(r["settings"]["rest_lr"], 0) + 1
      scan = rest if counts[rest] >= 3 else max(counts, key=lambda v: (counts[v], v == rest))
      for ax, axis, other, value in ((row[0], "lr", "rest_lr", scan),
                                     (row[1], "rest_lr", "lr", lr)):  # fmt: skip
        line = sorted((r["settings"][axis], r["metrics"]["val_ppl"]) for r in pts
                      if r["settings"][other] == value)  # fmt: skip
        xs, ys = zip(*line, strict=True)
        label = f"{name} @ {scan:g}" if axis == "lr" else name
        ax.plot(xs, [y if math.isfinite(y) else np.nan for y in ys], "o-", label=label)
        floor += [y for y in ys if math.isfinite(y)]
    labels = ("lr (projected matrices) at the rest_lr of its scan (@)",
              "rest_lr (embedding, norms, head) at the best lr")  # fmt: skip
    for ax, axis in zip(row, labels, strict=True):
      ax.set(xscale="log", yscale="log", xlabel=axis, ylabel="validation ppl (seed 0)",
             title=size)  # fmt: skip
      if floor:
        ax.set_ylim(min(floor) * 0.97, min(max(floor), min(floor) * 4.5))
    row[0].legend(fontsize=8, ncol=2)
    row[1].legend(fontsize=8, ncol=2)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def _skipped(out: pathlib.Path, runs: list[dict]) -> list[str]:
  """The points left out by ``--deadline`` and not run later (by a resumed sweep)."""
  path = out / SKIPPED
  if not path.is_file():
    return []
  done = {tuple(field(r, k) for k in KEY if k != "settings.steps") for r in runs}
  rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
  point = lambda r: (r["model"], r["method"], r["seed"], r["lr"], r["rest_lr"])  # noqa: E731
  rows = list({point(r): r for r in rows if point(r) not in done}.values())  # once each
  rows = [[r["model"], r["method"], r["phase"], f"{r['lr']:g}", f"{r['rest_lr']:g}",
           str(r["seed"]), r["at"]] for r in rows]  # fmt: skip
  header = ["model", "method", "phase", "lr", "rest_lr", "seed", "at"]
  return ["", "## Left out by the time budget (`--deadline`)", "", markdown_table(header, rows)]


def _diagnosis(out: pathlib.Path, runs: list[dict] | None = None) -> list[str]:
  """The statistics section: the tuned run's table and figure, and a one-row-per-run table of
  every statistics file (a run without ``val_ppl`` in its first line takes the seed-0 Fira
  run at the same rates and model from ``runs``)."""
  path = out / STATS
  if not path.is_file():
    return []
  sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
  from _fira_stats_report import SUMMARY_HEADER, plot, read_stats, summary, table  # isort: skip

  records = read_stats(path)
  head = records[0].get("run", {})
  plot(records[1:] if "run" in records[0] else records, out / STATS.replace(".jsonl", ".png"),
       f"Fira, {head.get('model', '')} at lr {head.get('lr', '?')}, rest_lr "
       f"{head.get('rest_lr', '?')}")  # fmt: skip
  body = records[1:] if "run" in records[0] else records
  lines = [
    "", "## Fira's residual branch during a tuned run", "",
    f"`{STATS}` (lr {head.get('lr', '?')}, rest_lr {head.get('rest_lr', '?')}): "
    f"{head.get('command', '')}. Every {head.get('every', '?')} steps, per "
    "projected matrix, `fira_jax.fira_statistics` of that step: φ = ‖N_i‖/‖R_i‖ per channel "
    "(the factor that gives the residual row the low-rank Adam update's scale), whether the "
    "growth limiter cut the residual (ρ > 1), and the residual's share ‖S‖/‖α·back(N) + S‖ "
    "of the update. Over all recorded steps:", "", table(body), "",
    f"![Fira statistics]({STATS.replace('.jsonl', '.png')})",
  ]  # fmt: skip
  others = sorted(out.glob(STATS.replace(".jsonl", "_lr*.jsonl")))
  if others:
    rows = []
    for file in [path, *others]:
      recs = read_stats(file)
      run = recs[0].get("run", {}) if recs and "run" in recs[0] else {}
      ppl = run.get("val_ppl")
      same = [r for r in runs or [] if r["method"] == "fira" and r["seed"] == 0
              and field(r, "settings.model") == run.get("model")
              and _same((r["settings"]["lr"], r["settings"]["rest_lr"]),
                        (run.get("lr", -1.0), run.get("rest_lr", -1.0)))]  # fmt: skip
      if ppl is None and same:
        ppl = same[-1]["metrics"]["val_ppl"]
      rows.append([
        f"{run.get('lr', '?'):g}" if "lr" in run else "?",
        f"{run.get('rest_lr', '?'):g}" if "rest_lr" in run else "?",
        "tuned" if file == path else "", f"{ppl:.2f}" if ppl is not None else "–",
        *summary(recs[1:] if run else recs), f"`{file.name}`",
      ])  # fmt: skip
    header = ["lr", "rest_lr", "", "val. ppl (seed 0)", *SUMMARY_HEADER, "file"]
    lines += [
      "", "### The same statistics at other rates", "",
      "Fira runs (seed 0, same steps and gap) at other (lr, rest_lr) pairs "
      "(`--diagnose-at LR REST_LR`), over all recorded steps:", "",
      markdown_table(header, rows),
    ]  # fmt: skip
  return lines


def render(runs: list[dict], out: pathlib.Path | None = None) -> str:
  sizes = list(dict.fromkeys(field(r, "settings.model") for r in runs))
  lines = [
    "# Pre-training, every method at its tuned learning rates",
    "",
    f"Generated by `benchmarks/fira/pretrain_sweep.py` from `pretrain_sweep_runs.jsonl` "
    f"(each run's command is in its `command` field; the first: `{runs[0]['command']}`). "
    f"Machine: {runs[0]['machine']}.",
    "",
    "`lr` is the peak rate of the projected attention/MLP matrices (every matrix for AdamW, the "
    "adapters for LoRA), `rest_lr` that of the embedding, norms and output head (plain AdamW "
    "under every method), both on the same warm-up + cosine schedule. Coordinate search on "
    "seed 0 (lr, then rest_lr, then lr again; grids extended at an edge), then the best pair "
    "over the seeds; a rate marked (edge) is the grid's smallest or largest after the "
    "extensions. Δ: paired per-seed difference of validation perplexity against AdamW "
    "(negative = better than AdamW), mean and 95% t interval.",
    "",
    "Paper ordering at 60M on C4: " + " < ".join(
      f"{k} {v}" for k, v in sorted(PAPER_60M.items(), key=lambda kv: kv[1])),
  ]  # fmt: skip
  for size in sizes:
    s = next(r["settings"] for r in runs if field(r, "settings.model") == size)
    tokens = s["steps"] * s["batch_size"] * s["seq_len"]
    table, order = final_table(runs, size)
    lines += [
      "", f"## {size}: {s['steps']} steps × {s['batch_size']} × {s['seq_len']} = "
      f"{tokens:,} tokens, rank {s['rank']}, α {s['alpha']}", "",
      "### At each method's best rates", "", table, "",
      "Ordering here (mean ppl): " + (" < ".join(order) or "–"), "",
      "The paper's ordering of the same methods (60M, C4): "
      + (" < ".join(n for n in sorted(PAPER_60M, key=PAPER_60M.get) if n in order) or "–"),
      "",
      "### The sweep (seed 0)", "", sweep_table(runs, size),
    ]  # fmt: skip
  lines += ["", "![validation perplexity against the two rates](pretrain_sweep.png)"]
  if out is not None:
    lines += _skipped(out, runs) + _diagnosis(out, runs)
  return "\n".join(lines) + "\n"


def _compilation_cache(path: pathlib.Path) -> None:
  """A persistent XLA cache: the runs of one method differ only in rates held in the optimizer
  state (``traced_rates``), so they share one compiled step (compiling it is most of a tiny
  model's run on a CPU)."""
  import jax

  jax.config.update("jax_compilation_cache_dir", str(path))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def _deadline(hhmm: str, now: float | None = None) -> float:
  """The next ``HH:MM`` UTC after ``now`` as a ``time.time()`` value."""
  now = time.time() if now is None else now
  hours, minutes = (int(x) for x in hhmm.split(":"))
  day = now - now % 86400
  t = day + hours * 3600 + minutes * 60
  return t if t > now else t + 86400


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--sizes", nargs="+", default=["llama_tiny", "llama_small"],
                      choices=list(SIZES))  # fmt: skip
  parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
  parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
  parser.add_argument("--rest-lr-start", type=float, default=1e-3, help="rest_lr in step 1")
  parser.add_argument("--lr-grid", type=float, nargs="+", default=None, help="override grids")
  parser.add_argument("--rest-grid", type=float, nargs="+", default=None)
  parser.add_argument("--max-extend", type=int, default=2, help="grid extensions at an edge")
  parser.add_argument("--data", default="stdlib")
  parser.add_argument("--vocab-size", type=int, default=4096)
  parser.add_argument("--tokenizer", default="bpe", help="bpe (trained on the data) or byte")
  parser.add_argument("--eval-every", type=int, default=200)
  parser.add_argument("--eval-batches", type=int, default=16)
  parser.add_argument("--out", type=pathlib.Path, default=RESULTS, help="runs file + report")
  parser.add_argument("--run-dir", type=pathlib.Path, default=pathlib.Path("runs/sweep"))
  parser.add_argument("--smoke", action="store_true", help="the smoke model, 2-point grids")
  parser.add_argument("--quiet", action="store_true", help="no progress bars")
  parser.add_argument("--report-only", action="store_true")
  parser.add_argument("--steps", type=int, default=None, help="override the size's steps")
  parser.add_argument("--gap", type=int, default=None, help="projector refresh gap (default 200)")
  parser.add_argument("--refine", choices=("grid", "neighbours", "none"), default="grid",
                      help="step 3: whole lr grid, best lr and neighbours, or none")  # fmt: skip
  parser.add_argument("--deadline", default=None,
                      help="HH:MM (UTC): start no run that would end later (by the slowest "
                      "run so far); skipped points go to " + SKIPPED)  # fmt: skip
  parser.add_argument("--diagnose-every", type=int, default=0,
                      help="after the sweep, rerun Fira at its tuned rates recording its "
                      "residual statistics every N steps (" + STATS + ")")  # fmt: skip
  parser.add_argument("--diagnose-only", action="store_true",
                      help="only the Fira statistics run (at the best rates so far; every 5 "
                      "steps unless --diagnose-every)")  # fmt: skip
  parser.add_argument("--diagnose-at", type=float, nargs=2, action="append", default=None,
                      metavar=("LR", "REST_LR"),
                      help="the Fira statistics run at this (lr, rest_lr) instead of the tuned "
                      "pair (repeatable; a pair other than the tuned one writes "
                      "pretrain_sweep_fira_stats_lr<LR>_rest<REST_LR>.jsonl)")  # fmt: skip
  from_command_line = argv is None
  argv = sys.argv[1:] if argv is None else list(argv)
  args = parser.parse_args(argv)
  if args.deadline is not None:
    args.deadline = _deadline(args.deadline)
  if args.smoke:
    args.sizes, args.seeds, args.max_extend = ["smoke"], [0, 1], 0
    args.lr_grid, args.rest_grid = args.lr_grid or [1e-3, 1e-2], args.rest_grid or [1e-3, 1e-2]
    args.eval_every, args.eval_batches, args.tokenizer = 3, 2, "byte"
  args.out.mkdir(parents=True, exist_ok=True)
  command = "PYTHONPATH=. nice python " + command_line(["benchmarks/fira/pretrain_sweep.py", *argv])
  if not args.report_only and from_command_line:  # not inside another process (tests)
    _compilation_cache(args.run_dir / "xla_cache")
  sweep = Sweep(args, command)
  if not (args.report_only or args.diagnose_only):
    for size in args.sizes:
      for name in args.methods:
        lr, rest = sweep.method(size, name)
        print(f"{size} {name}: best lr {lr}, rest_lr {rest}", flush=True)
  if args.diagnose_at:
    bad = [v for pair in args.diagnose_at for v in pair if not (math.isfinite(v) and v > 0)]
    if bad:
      parser.error(f"--diagnose-at: rates must be positive and finite, got {bad}")
  if (args.diagnose_every or args.diagnose_only or args.diagnose_at) and "fira" in args.methods:
    args.diagnose_every = args.diagnose_every or 5
    for size in args.sizes:
      for pair in args.diagnose_at or [None]:
        diagnose(args, size, sweep, None if pair is None else tuple(pair))
  runs = read_runs(args.out / "pretrain_sweep_runs.jsonl", key=KEY)
  text = render(runs, args.out)
  report = args.out / "pretrain_sweep.md"
  if report.is_file() and NOTES in report.read_text(encoding="utf-8"):
    text += "\n" + NOTES + report.read_text(encoding="utf-8").split(NOTES, 1)[1]
  report.write_text(text, encoding="utf-8")
  plot_sweep(runs, args.out / "pretrain_sweep.png")
  print(text)
  return 0


def stats_file(lr: float, rest_lr: float) -> str:
  """The statistics file of a Fira run at a pair other than the tuned one."""
  return STATS.replace(".jsonl", f"_lr{lr:g}_rest{rest_lr:g}.jsonl")


def _same(a: tuple[float, float], b: tuple[float, float]) -> bool:
  return all(math.isclose(x, y, rel_tol=1e-9) for x, y in zip(a, b, strict=True))


def diagnose(
  args: argparse.Namespace, size: str, sweep: Sweep, pair: tuple[float, float] | None = None
) -> None:
  """Reruns Fira (seed 0) recording ``fira_stats.jsonl`` every ``--diagnose-every`` steps.

  At the tuned pair (the default) the file is ``pretrain_sweep_fira_stats.jsonl``; a file
  there from another pair (the tuned pair moved since) is kept under that pair's name
  (:func:`stats_file`) and the run is redone. At another ``pair`` (``--diagnose-at``) the file
  is :func:`stats_file`. Each file is written once; its first line holds the run's rates,
  validation perplexity and command."""
  from fira_jax.train import TrainConfig, train

  runs = read_runs(sweep.runs_file, key=KEY)
  tried = [r for r in runs if r["method"] == "fira" and field(r, "settings.model") == size]
  if not tried and pair is None:
    return
  if (size, "fira") in best_pairs(runs):  # the tuned pair; else the best point so far
    tuned = best_pairs(runs)[(size, "fira")]
  elif tried:
    best = min((r for r in tried if r["seed"] == 0), key=lambda r: r["metrics"]["val_ppl"])
    tuned = best["settings"]["lr"], best["settings"]["rest_lr"]
  else:
    tuned = None
  lr, rest = pair if pair is not None else tuned
  dest = args.out / (STATS if tuned and _same((lr, rest), tuned) else stats_file(lr, rest))
  if dest.is_file() and dest.name == STATS:
    head = json.loads(dest.read_text().split("\n", 1)[0]).get("run", {})
    old = (head.get("lr"), head.get("rest_lr"))
    if None not in old and not _same(old, (lr, rest)):  # from an earlier tuned pair: keep it
      kept = args.out / stats_file(*old)
      if kept.is_file():  # a run at that pair is already kept
        dest.unlink()
      else:
        dest.rename(kept)
  if dest.is_file():
    return
  out = args.run_dir / f"{size}_fira_stats"
  shutil.rmtree(out, ignore_errors=True)
  sweep._share_tokenizer(out, after=False)
  config = sweep.config(size, "fira", lr, rest, 0, out)
  summary = train(TrainConfig(**config, fira_stats_every=args.diagnose_every))
  head = {"run": {"model": size, "lr": lr, "rest_lr": rest, "every": args.diagnose_every,
                  "seed": 0, "val_ppl": summary.get("val_ppl"), "tuned": dest.name == STATS,
                  "command": sweep.command}}  # fmt: skip
  dest.write_text(json.dumps(head) + "\n" + (out / "fira_stats.jsonl").read_text())
  shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
  sys.exit(main())
