"""``fira-jax plot``: curves of one or several runs' metrics files (any package's ``metrics.jsonl``)
to a PNG."""

from __future__ import annotations

import argparse
import pathlib

import numpy as np

from fira_jax.lab.metrics import read_metrics


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("runs", nargs="+", help="run folders (or metrics.jsonl files)")
  parser.add_argument("--out", required=True, help="PNG file to write")
  parser.add_argument(
    "--metric", default="loss", help="metric to plot: loss, val_loss, val_ppl, grad_norm, ..."
  )
  parser.add_argument("--smooth", type=int, default=1, help="moving-average window (steps)")
  parser.add_argument("--title", default=None, help="figure title")


def plot_runs(
  runs: list[str], out: str, *, metric: str = "loss", smooth: int = 1, title: str | None = None
) -> pathlib.Path:
  """Draws ``metric`` against step for each run, labelled by the run folder name."""
  if smooth < 1:
    raise ValueError(f"--smooth must be >= 1, got {smooth}")
  try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
  except ImportError as e:
    raise ValueError("fira-jax plot needs matplotlib: pip install matplotlib") from e
  fig, ax = plt.subplots(figsize=(7, 4.5))
  for run in runs:
    records = [r for r in read_metrics(run) if metric in r]
    if not records:
      raise ValueError(f"{run} has no '{metric}' records")
    steps = np.array([r["step"] for r in records])
    values = np.array([r[metric] for r in records], dtype=float)
    if smooth > 1 and len(values) >= smooth:
      values = np.convolve(values, np.ones(smooth) / smooth, mode="valid")
      steps = steps[smooth - 1 :]
    ax.plot(steps, values, label=pathlib.Path(run).name, marker="o" if len(steps) < 30 else None)
  ax.set_xlabel("step")
  ax.set_ylabel(metric)
  if metric.endswith("ppl"):
    ax.set_yscale("log")
  ax.grid(alpha=0.3)
  ax.legend()
  if title:
    ax.set_title(title)
  out_path = pathlib.Path(out)
  out_path.parent.mkdir(parents=True, exist_ok=True)
  fig.tight_layout()
  fig.savefig(out_path, dpi=120)
  plt.close(fig)
  return out_path


def run(args: argparse.Namespace) -> int:
  path = plot_runs(args.runs, args.out, metric=args.metric, smooth=args.smooth, title=args.title)
  print(f"wrote {path}")
  return 0
