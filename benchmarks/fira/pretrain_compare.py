"""The Fira paper's pre-training comparison, at a size one CPU finishes in about half an hour.

Trains the same LLaMA model on the same data, token budget, schedule and rank with AdamW (full
rank), GaLore, Fira, LoRA and the two Fira ablations (no growth limiter, no norm-based
scaling). Each finished run is appended to the runs file
``benchmarks/results/fira/pretrain_runs.jsonl`` (one :mod:`fira_jax.lab.results` record: method,
seed, settings = the ``TrainConfig`` fields with the Fira options, metrics = validation
perplexity and loss, tokens/s, optimizer-state bytes, parameter counts; machine, command, and
the loss curves). The report ``pretrain.md`` (a Markdown table, mean ± sample standard
deviation over seeds) and ``pretrain.png`` (the curves of the first seed) are rendered from
that file. Runs already in it are skipped, so the script can be re-run to add seeds;
``--report-only`` renders without training.

    PYTHONPATH=. nice python benchmarks/fira/pretrain_compare.py --seeds 0 1
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import sys

import numpy as np

from fira_jax.lab.results import (
  append_run,
  command_line,
  field,
  group_runs,
  make_record,
  markdown_table,
  read_runs,
)
from fira_jax.lab.stats import mean_std

RESULTS = pathlib.Path(__file__).resolve().parents[1] / "results" / "fira"
# name: (optimizer, learning rate, fira keyword options)
METHODS = {
  "adamw": ("adamw", 1e-3, {}),
  "galore": ("galore", 1e-2, {}),
  "fira": ("fira", 1e-2, {}),
  "fira_no_limiter": ("fira", 1e-2, {"gamma": None}),
  "fira_no_scaling": ("fira", 1e-2, {"norm_scaling": "none"}),
  "lora": ("lora", 1e-3, {}),
}
METRICS = (
  "val_ppl",
  "val_loss",
  "tokens_per_s",
  "optimizer_state_bytes",
  "params",
  "frozen_params",
  "steps_done",
)
# The script's flags that every method's TrainConfig takes as they are.
SHARED_FLAGS = (
  "model",
  "rank",
  "update_proj_gap",
  "alpha",
  "steps",
  "batch_size",
  "seq_len",
  "eval_every",
  "eval_batches",
  "data",
  "vocab_size",
)
# Hand-written text below this line of an existing report is kept when it is re-rendered.
NOTES_MARKER = "<!-- notes: kept when the report is re-rendered -->"


def train_config(args: argparse.Namespace, name: str, seed: int):
  """The ``TrainConfig`` of method ``name`` at ``seed`` (the same for every method but the
  optimizer, its learning rate and the Fira options)."""
  from fira_jax.train import TrainConfig

  optimizer, lr, options = METHODS[name]
  return TrainConfig(
    out=str(pathlib.Path(args.run_dir) / f"{name}_s{seed}"),
    optimizer=optimizer,
    lr=lr,
    checkpoint_every=args.steps,
    log_every=10,
    seed=seed,
    fira_options=options,
    progress=not args.quiet,
    **{flag: getattr(args, flag) for flag in SHARED_FLAGS},
  )


def run_record(run_dir: pathlib.Path, name: str, seed: int, command: str) -> dict:
  """The runs-file record of a finished run folder (its ``summary.json`` and metrics)."""
  from fira_jax.lab.metrics import read_metrics

  summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
  logs = read_metrics(run_dir)
  curves = {
    key: [[r["step"], r[key]] for r in logs if r.get(key) is not None]
    for key in ("loss", "val_ppl")
  }
  metrics = {k: summary[k] for k in METRICS}
  return make_record(name, seed, summary["config"], metrics, command=command, curves=curves)


def run_all(args: argparse.Namespace, runs_file: pathlib.Path, command: str) -> None:
  """Trains every (seed, method) not yet in ``runs_file`` and appends its record."""
  from fira_jax.train import train

  done = set()
  if runs_file.is_file():
    done = {(r["method"], r["seed"]) for r in read_runs(runs_file)}
  for seed in args.seeds:  # seed-major: a cut-short run still has every method for seed 0
    for name in args.methods:
      if (name, seed) in done:
        continue
      config = train_config(args, name, seed)
      out = pathlib.Path(config.out)
      if not (out / "summary.json").exists():
        if out.exists():
          shutil.rmtree(out)
        train(config)
      append_run(runs_file, run_record(out, name, seed, command))


def _pm(values: list, fmt: str) -> str:
  """``mean ± sample std`` of ``values`` (just the value when there is one)."""
  if len(values) == 1:
    return format(values[0], fmt)
  mean, std = mean_std(values, ddof=1)
  return f"{format(mean, fmt)} ± {format(std, fmt)}"


def _cell(runs: list[dict], metric: str, fmt: str) -> str:
  """A metric over a method's runs; runs converted from an older report, whose per-seed values
  were not kept, carry the report's cell under ``reported``."""
  values = [v for r in runs if (v := field(r, f"metrics.{metric}", None)) is not None]
  if values:
    return _pm(values, fmt)
  return field(runs[0], f"reported.{metric}", "–")


def _state_cell(runs: list[dict], adamw_bytes: float | None) -> str:
  state = field(runs[0], "metrics.optimizer_state_bytes", None)
  if state is None:
    return field(runs[0], "reported.optimizer_state", "–")
  rel = f"{100 * state / adamw_bytes:.0f}%" if adamw_bytes else "–"
  return f"{state / 2**20:.2f} MiB ({rel})"


def table(runs: list[dict]) -> str:
  """The comparison table: one row per method (in :data:`METHODS` order), cells over seeds."""
  by_method = group_runs(runs, lambda r: r["method"])
  order = [m for m in METHODS if m in by_method] + [m for m in by_method if m not in METHODS]
  adamw = [field(r, "metrics.optimizer_state_bytes", None) for r in by_method.get("adamw", [])]
  adamw = [b for b in adamw if b is not None]
  adamw_bytes = float(np.mean(adamw)) if adamw else None
  rows = []
  for name in order:
    group = sorted(by_method[name], key=lambda r: r["seed"])
    params, frozen = group[0]["metrics"]["params"], group[0]["metrics"]["frozen_params"]
    rows.append(
      [
        name,
        ", ".join(str(r["seed"]) for r in group),
        _cell(group, "val_ppl", ".2f"),
        _cell(group, "val_loss", ".2f"),
        _state_cell(group, adamw_bytes),
        f"{params + frozen:,} / {params:,}",
        _cell(group, "tokens_per_s", ",.0f"),
      ]
    )
  header = [
    "method",
    "seeds",
    "val. ppl",
    "val. loss",
    "optimizer state",
    "params (total / trained)",
    "tokens/s",
  ]
  return markdown_table(header, rows)


def _one(runs: list[dict], key: str) -> str:
  """The value of ``key`` shared by the runs (several values joined with "; ")."""
  return "; ".join(dict.fromkeys(str(field(r, key)) for r in runs))


def _source_line(runs: list[dict]) -> str:
  """Where runs not measured by this script come from (empty when all were)."""
  sources = [r["source"] for r in runs if "source" in r]
  if not sources:
    return ""
  return (
    f"\nRuns: {'; '.join(dict.fromkeys(sources))} (the per-seed values were not kept, so the "
    "cells are the table's)."
  )


def render(runs: list[dict], *, png_name: str = "pretrain.png", notes: str = "") -> str:
  """The Markdown report of ``runs`` (settings read from the first run)."""
  if not runs:
    raise ValueError("no runs to report")
  s = runs[0]["settings"]
  seeds = ", ".join(str(x) for x in sorted({r["seed"] for r in runs}))
  tokens = s["steps"] * s["batch_size"] * s["seq_len"]
  machine = (
    f"Machine: {_one(runs, 'machine')}; shared with other jobs while it ran, so tokens/s are "
    "indicative only."
  )
  text = f"""# Pre-training comparison (Fira paper setting, CPU scale)

Command: `{_one(runs, "command")}`

{machine}{_source_line(runs)}

Setting: model `{s["model"]}` (LLaMA: RMSNorm, RoPE, SwiGLU, no biases, untied head), data
`{s["data"]}` (Python standard-library sources, BPE vocabulary {s["vocab_size"]} trained on the
training split), sequence length {s["seq_len"]}, batch {s["batch_size"]}, {s["steps"]} steps
({tokens:,} tokens), warm-up {s["warmup_steps"]} steps
then cosine to 10%, rank {s["rank"]} (= width/4, as in the paper), projector gap
{s["update_proj_gap"]}, α = {s["alpha"]}; learning rate 0.01 for GaLore/Fira and 0.001 for
AdamW/LoRA (the papers' choices); LoRA α = 32 on every attention/MLP linear layer, embeddings,
norms and head trained. Validation: {s["eval_batches"]} fixed batches of held-out documents.
Seeds: {seeds}; the table says which finished per method
(mean ± sample standard deviation where more than one).

{table(runs)}

![loss curves]({png_name})

The paper's ordering at 60M–1B on C4 is Fira < AdamW < GaLore < LoRA in perplexity, with
no-scaling and no-limiter both worse than Fira. At this scale the model is tiny (the
embedding and head, which every method trains with plain AdamW, are over half of the
parameters) and the run is short, so the table reports what was measured here, not the paper's
numbers. The optimizer state of the low-rank methods includes the full AdamW moments of the
embedding and the head; the saving on the projected matrices alone is larger.
"""
  if notes.strip():
    text += f"\n{NOTES_MARKER}\n\n{notes.strip()}\n"
  return text


def kept_notes(report: pathlib.Path) -> str:
  """The hand-written notes of an existing report (the text below :data:`NOTES_MARKER`)."""
  if not report.is_file():
    return ""
  return report.read_text(encoding="utf-8").partition(NOTES_MARKER)[2]


def plot(runs: list[dict], png: pathlib.Path) -> bool:
  """Draws the loss curves of the first seed's runs; False (nothing drawn) without curves."""
  first = min(r["seed"] for r in runs)
  runs = [r for r in runs if r["seed"] == first and r.get("curves", {}).get("loss")]
  if not runs:
    return False
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  fig, (ax_train, ax_val) = plt.subplots(1, 2, figsize=(12, 4.5))
  for run in runs:
    steps, loss = np.array(run["curves"]["loss"]).T
    k = min(5, len(loss))
    smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
    ax_train.plot(steps[k - 1 :], smooth, label=run["method"])
    if run["curves"].get("val_ppl"):
      ax_val.plot(*np.array(run["curves"]["val_ppl"]).T, marker="o", label=run["method"])
  ax_train.set(xlabel="step", ylabel="training loss (moving average of 5 logs)")
  ax_val.set(xlabel="step", ylabel="validation perplexity", yscale="log")
  for ax in (ax_train, ax_val):
    ax.grid(alpha=0.3)
    ax.legend()
  s = runs[0]["settings"]
  fig.suptitle(f"{s['model']}, rank {s['rank']}, {s['steps']} steps, seed {first}")
  fig.tight_layout()
  fig.savefig(png, dpi=110)
  plt.close(fig)
  return True


def write_report(runs_file: pathlib.Path, report: pathlib.Path, png: pathlib.Path) -> str:
  """Renders ``report`` (keeping its notes) and ``png`` from ``runs_file``; returns the text."""
  runs = read_runs(runs_file)
  if not plot(runs, png):
    print(f"no loss curves in {runs_file}: {png} left as it is", file=sys.stderr)
  text = render(runs, png_name=png.name, notes=kept_notes(report))
  report.write_text(text, encoding="utf-8")
  return text


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--model", default="llama_tiny")
  parser.add_argument("--steps", type=int, default=600)
  parser.add_argument("--batch-size", type=int, default=8)
  parser.add_argument("--seq-len", type=int, default=128)
  parser.add_argument("--rank", type=int, default=32)
  parser.add_argument("--update-proj-gap", type=int, default=100)
  parser.add_argument("--alpha", type=float, default=0.25)
  parser.add_argument("--eval-every", type=int, default=100)
  parser.add_argument("--eval-batches", type=int, default=16)
  parser.add_argument("--vocab-size", type=int, default=4096)
  parser.add_argument("--data", default="stdlib")
  parser.add_argument("--seeds", type=int, nargs="+", default=[0])
  parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
  parser.add_argument("--run-dir", default="runs/pretrain_compare", help="training run folders")
  parser.add_argument("--runs-file", type=pathlib.Path, default=RESULTS / "pretrain_runs.jsonl")
  parser.add_argument("--results", type=pathlib.Path, default=RESULTS / "pretrain.md")
  parser.add_argument("--png", type=pathlib.Path, default=RESULTS / "pretrain.png")
  parser.add_argument("--quiet", action="store_true", help="no progress bars")
  parser.add_argument(
    "--report-only", action="store_true", help="train nothing; report the runs file"
  )
  argv = sys.argv[1:] if argv is None else argv
  args = parser.parse_args(argv)
  if not args.report_only:
    command = "PYTHONPATH=. nice python " + command_line(
      ["benchmarks/fira/pretrain_compare.py", *argv]
    )
    run_all(args, args.runs_file, command)
  print(write_report(args.runs_file, args.results, args.png))


if __name__ == "__main__":
  main()
