"""OTGNet vs its baselines and ablations on OTG-Synth (two knob settings), Cora and Citeseer.

Every finished run is appended as one line to ``--runs`` (the :mod:`fira_jax.lab.results`
format; resumable: runs already there are skipped), and ``--report`` renders
``benchmarks/results/graphs/otgnet.md`` from the runs. Seeds are the outer loop, so a grid cut
short still has every method on the first seeds::

  PYTHONPATH=. nice -n 10 python benchmarks/graphs/otgnet_compare.py \\
      --datasets synth,cora,synth_cross,citeseer --seeds 5 --epochs 5
  PYTHONPATH=. python benchmarks/graphs/otgnet_compare.py --report

Several processes may write their own runs files; pass them all to ``--report``
(``--runs a.jsonl --runs b.jsonl``); a run present twice is an error.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import sys
import time

import numpy as np

from fira_jax.lab import results, stats
from graphs.otgnet import (
  OTGNetConfig,
  make_synth,
  method_config,
  planetoid_stream,
  train_otgnet,
)

HERE = pathlib.Path(__file__).resolve().parent
RESULTS = HERE.parent / "results" / "graphs"
RUNS = RESULTS / "otgnet_runs.jsonl"
# what --report reads by default (one file per grid process)
RUNS_ALL = tuple(
  RESULTS / f"otgnet{part}_runs{b}.jsonl" for part in ("", "_planetoid") for b in ("", "_b")
)
REPORT = RESULTS / "otgnet.md"
# the page's fixed text: {{TABLES}} and {{CLAIMS}} are filled from the runs, {{STATUS}} and
# {{VERDICT}} from otgnet_status.md and otgnet_verdict.md beside it
PAGE = HERE / "otgnet_page.md"
DATA_DIR = HERE.parents[1] / ".." / "shared" / "data" / "planetoid"
KEY = ("settings.dataset", "method", "seed")
# synth_cross: cross-class messages dominate (few same-class edges, many to old classes)
SYNTH = {"synth": {}, "synth_cross": {"p_homo": 0.2, "p_old": 0.8}}
ORDER = (  # the most informative first: a grid cut short still has them
  "otgnet", "finetune", "no_ib", "no_triad", "random_triads", "er", "ewc", "lwf", "joint",
  "importance_only", "no_pattern_loss",
)  # fmt: skip


def load(dataset: str, seed: int, data_dir, **size):
  """The dataset of one seed (OTG-Synth is generated with the seed and the ``size`` keywords;
  the Planetoid arrival order too)."""
  if dataset in SYNTH:
    return make_synth(seed, **SYNTH[dataset], **size)
  return planetoid_stream(dataset, data_dir, seed)


def _done(paths) -> set[tuple]:
  """``(dataset, method, seed)`` of the runs in the existing files of ``paths``."""
  done = set()
  for p in map(pathlib.Path, paths):
    if p.exists():
      done |= {tuple(results.field(r, k) for k in KEY) for r in results.read_runs(p, key=KEY)}
  return done


def run(args: argparse.Namespace) -> None:
  """Runs every (dataset, seed, method) not yet in ``--runs`` and appends it."""
  path = pathlib.Path(args.runs[0])  # written; every --runs file counts as done
  base = OTGNetConfig(memory_dim=args.memory_dim, hidden_dim=args.hidden_dim)
  for dataset in args.datasets.split(","):
    seed_list = args.seed_list or range(args.seeds)
    for seed in seed_list:
      size = {"n_per_class": args.synth_per_class, "m": args.synth_edges}
      data = load(dataset, seed, args.data_dir, **size)
      for method in args.methods.split(","):
        if (dataset, method, seed) in _done(args.runs):  # re-read: other processes write too
          continue
        config = method_config(method, base)
        t0 = time.perf_counter()
        res = train_otgnet(data, config, seed=seed, epochs=args.epochs)
        metrics = {**res, "wall_s": time.perf_counter() - t0}
        settings = {
          "dataset": dataset,
          "epochs": args.epochs,
          "data_sha256": data.sha256,
          "synth_knobs": {**SYNTH[dataset], **size} if dataset in SYNTH else None,
          "config": dataclasses.asdict(config),
        }
        record = results.make_record(method, seed, settings, metrics, command=args.command)
        if (dataset, method, seed) in _done(args.runs):  # another process finished it first
          continue
        results.append_run(path, record)
        print(
          f"{dataset} {method} seed {seed}: AP {100 * res['ap']:.2f} AF {100 * res['af']:.2f} "
          f"({metrics['wall_s']:.0f} s)",
          flush=True,
        )


def _ap_af(runs, seeds=None):
  """Per-seed AP and AF in percent: ``({seed: ap}, {seed: af})``."""
  ap = {r["seed"]: 100 * r["metrics"]["ap"] for r in runs}
  af = {r["seed"]: 100 * r["metrics"]["af"] for r in runs}
  return ap, af


def _delta(mine: dict, ref: dict) -> str:
  """Paired ``mine - ref`` over shared seeds with its 95% t interval."""
  d = stats.paired_by_key(mine, ref)
  return "–" if d is None else d.fmt()


def _final_row(runs) -> str:
  """Mean over seeds of the last row ``a[T-1][k]`` of the accuracy matrix, in percent."""
  last = np.array([np.asarray(r["metrics"]["acc"], float)[-1] for r in runs]) * 100
  return " / ".join(f"{v:.1f}" for v in np.nanmean(last, 0))


def _seconds(runs) -> str:
  """Median (and minimum) seconds per epoch; a process's first run of a method includes its
  compilation in the first epoch, so the minimum is the closer to the steady-state cost."""
  spe = [r["metrics"]["seconds_per_epoch"] for r in runs]
  return f"{np.median(spe):.2f} ({min(spe):.2f})"


HEADER = (
  "method",
  "seeds",
  "AP % (mean ± std)",
  "AF % (mean ± std)",
  "Δ AP vs OTGNet [95% CI]",
  "Δ AF vs OTGNet [95% CI]",
  "final row a[T-1][k] %",
  "s/epoch median (min)",
)


def tables(runs: list[dict]) -> dict[str, list[list[str]]]:
  """One table (rows of cells) per dataset."""
  out = {}
  for (dataset,), ds_runs in results.group_runs(runs, ("settings.dataset",)).items():
    by_method = results.group_runs(ds_runs, ("method",))
    ref_ap, ref_af = _ap_af(by_method.get(("otgnet",), []))
    rows = []
    for method in [m for m in ORDER if (m,) in by_method]:
      rs = sorted(by_method[(method,)], key=lambda r: r["seed"])
      ap, af = _ap_af(rs)
      mine = method == "otgnet"
      rows.append(
        [
          method,
          str(len(rs)),
          stats.fmt_pm(list(ap.values())),
          stats.fmt_pm(list(af.values())),
          "–" if mine else _delta(ap, ref_ap),
          "–" if mine else _delta(af, ref_af),
          _final_row(rs),
          _seconds(rs),
        ]
      )
    out[dataset] = rows
  return out


def claims(runs: list[dict]) -> list[str]:
  """The paper's qualitative claims, each checked on every dataset with the paired deltas."""
  lines = []
  for (dataset,), ds_runs in results.group_runs(runs, ("settings.dataset",)).items():
    by = {m: _ap_af(rs) for (m,), rs in results.group_runs(ds_runs, ("method",)).items()}
    if "otgnet" not in by:
      continue
    ap0, af0 = by["otgnet"]

    def d(method, which=0, by=by, ap0=ap0, af0=af0):
      if method not in by:
        return None
      ref = ap0 if which == 0 else af0
      return stats.paired_by_key(ref, by[method][which])

    def verdict(delta, sign):
      if delta is None:
        return "not run"
      if delta.n < 2:
        return f"{delta.fmt()} (1 seed: no interval)"
      holds = delta.low > 0 if sign > 0 else delta.high < 0
      same = delta.low <= 0 <= delta.high
      word = "holds" if holds else ("not resolved (interval spans 0)" if same else "reversed")
      return f"{delta.fmt()}: {word}"

    base = [m for m in ("finetune", "er", "ewc", "lwf") if m in by]
    lines.append(f"- **{dataset}**")
    for m in base:
      lines.append(f"  - AP above `{m}` (OTGNet − {m}): {verdict(d(m), +1)}")
      lines.append(f"  - AF below `{m}` (OTGNet − {m}): {verdict(d(m, 1), -1)}")
    lines.append(f"  - IB matters, AP (OTGNet − no_ib): {verdict(d('no_ib'), +1)}")
    for m in ("no_triad", "random_triads"):
      lines.append(f"  - triad selection matters, AP (OTGNet − {m}): {verdict(d(m), +1)}")
      lines.append(f"  - triad selection matters, AF (OTGNet − {m}): {verdict(d(m, 1), -1)}")
  return lines


def report(args: argparse.Namespace) -> None:
  """Renders ``otgnet.md`` from the runs files: the page text with the tables filled in."""
  runs = results.read_runs(*[p for p in args.runs if pathlib.Path(p).exists()], key=KEY)
  parts = []
  for dataset, rows in tables(runs).items():
    parts.append(f"### {dataset}\n\n" + results.markdown_table(HEADER, rows))
  page = PAGE.read_text()
  text = page.replace("{{TABLES}}", "\n\n".join(parts))
  text = text.replace("{{CLAIMS}}", "\n".join(claims(runs)))
  for name in ("STATUS", "VERDICT"):  # hand-written paragraphs in side files
    side = PAGE.with_name(f"otgnet_{name.lower()}.md")
    text = text.replace("{{" + name + "}}", side.read_text().strip() if side.exists() else "")
  REPORT.write_text(text)
  print(f"wrote {REPORT} ({len(runs)} runs)")


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--datasets", default="synth,cora,synth_cross,citeseer")
  p.add_argument("--methods", default=",".join(ORDER))
  p.add_argument("--seeds", type=int, default=5)
  p.add_argument(
    "--seed-list",
    type=lambda s: [int(x) for x in s.split(",")],
    default=None,
    help="run these seeds in this order instead of 0..seeds-1 (for a second process)",
  )
  p.add_argument("--epochs", type=int, default=5)
  p.add_argument("--memory-dim", type=int, default=100)
  p.add_argument("--hidden-dim", type=int, default=128)
  p.add_argument("--synth-per-class", type=int, default=200)
  p.add_argument("--synth-edges", type=int, default=10)
  p.add_argument("--data-dir", default=str(DATA_DIR))
  p.add_argument("--runs", action="append", default=None)
  p.add_argument("--report", action="store_true")
  args = p.parse_args(argv)
  args.runs = args.runs or ([str(RUNS)] if not args.report else [str(p) for p in RUNS_ALL])
  args.command = results.command_line()
  if args.report:
    report(args)
  else:
    run(args)
  return 0


if __name__ == "__main__":
  sys.exit(main())
