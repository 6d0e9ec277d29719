"""``fira-jax plot``: curves of one or several runs' metrics files (any package's ``metrics.jsonl``)
to a PNG."""

from __future__ import annotations

import argparse
import pathlib

import numpy as np

from fira_jax.lab.metrics import read_metrics


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("runs", nargs="+", help="run folders (or metrics .jsonl files)")
  parser.add_argument("--out", required=True, help="PNG file to write")
  parser.add_argument(
    "--metric", default="loss", help="metric to plot: loss, val_loss, val_ppl, val_acc, ..."
  )
  parser.add_argument(
    "--x", default=None, help="field on the x axis (default: step, else epoch, else the index)"
  )
  parser.add_argument(
    "--group",
    default=None,
    metavar="FIELD",
    help="one curve per value of this field within a file (e.g. method, seed)",
  )
  parser.add_argument(
    "--where",
    action="append",
    default=[],
    metavar="FIELD=VALUE",
    help="keep only records whose field equals the value (repeatable)",
  )
  parser.add_argument("--smooth", type=int, default=1, help="moving-average window (points)")
  parser.add_argument("--title", default=None, help="figure title")


def _filters(where: list[str]) -> list[tuple[str, str]]:
  out = []
  for item in where:
    if "=" not in item:
      raise ValueError(f"--where expects FIELD=VALUE, got {item!r}")
    out.append(tuple(item.split("=", 1)))
  return out


def _curves(run: str, metric: str, x: str | None, group: str | None, where: list[str]):
  """``[(label, xs, ys)]`` of one metrics file."""
  records = read_metrics(run)
  for k, v in _filters(where):
    records = [r for r in records if str(r.get(k)) == v]
  records = [r for r in records if metric in r]
  if not records:
    raise ValueError(f"{run} has no '{metric}' records" + (" matching --where" if where else ""))
  name = pathlib.Path(run).name
  groups: dict[str, list[dict]] = {}
  for r in records:
    groups.setdefault(name if group is None else f"{name} {group}={r.get(group)}", []).append(r)
  out = []
  for label, rs in groups.items():
    xkey = x or next((k for k in ("step", "epoch") if all(k in r for r in rs)), None)
    if xkey is not None and not all(xkey in r for r in rs):
      raise ValueError(f"{run}: not every '{metric}' record has the x field '{xkey}'")
    xs = np.array([r[xkey] for r in rs]) if xkey else np.arange(len(rs))
    out.append((label, xs, np.array([r[metric] for r in rs], dtype=float), xkey or "record"))
  return out


def plot_runs(
  runs: list[str],
  out: str,
  *,
  metric: str = "loss",
  smooth: int = 1,
  title: str | None = None,
  x: str | None = None,
  group: str | None = None,
  where: list[str] | None = None,
) -> pathlib.Path:
  """Draws ``metric`` against ``x`` for each run (and each ``group`` value within a run)."""
  if smooth < 1:
    raise ValueError(f"--smooth must be >= 1, got {smooth}")
  try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
  except ImportError as e:
    raise ValueError("fira-jax plot needs matplotlib: pip install matplotlib") from e
  curves = [c for run in runs for c in _curves(run, metric, x, group, where or [])]
  fig, ax = plt.subplots(figsize=(7, 4.5))
  for label, xs, values, _ in curves:
    if smooth > 1 and len(values) >= smooth:
      values = np.convolve(values, np.ones(smooth) / smooth, mode="valid")
      xs = xs[smooth - 1 :]
    ax.plot(xs, values, label=label, marker="o" if len(xs) < 30 else None)
  ax.set_xlabel(curves[0][3])
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
  path = plot_runs(
    args.runs,
    args.out,
    metric=args.metric,
    smooth=args.smooth,
    title=args.title,
    x=args.x,
    group=args.group,
    where=args.where,
  )
  print(f"wrote {path}")
  return 0
