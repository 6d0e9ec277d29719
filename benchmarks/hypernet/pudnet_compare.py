"""PudNet vs training from scratch: the grid of settings, written as runs and a markdown table.

Runs ``fira-jax hypernet pudnet`` (through its public API) for each column (dataset × setting)
and each method row (pudnet with its baselines, the dataset-blind control ``ghn_lite`` and the
ablations), appending run records to ``benchmarks/results/hypernet/pudnet_runs.jsonl``; then
renders ``pudnet.md`` from the runs file (``--report-only`` renders without running).

  PYTHONPATH=. python benchmarks/hypernet/pudnet_compare.py --data-dir ../shared/data --smoke
  PYTHONPATH=. python benchmarks/hypernet/pudnet_compare.py --data-dir ../shared/data \\
    --seeds 3 --meta-steps 2000 --num-eval-tasks 200
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys

from fira_jax.lab import append_run, fmt_pm, make_record, mean_std, read_runs
from fira_jax.lab.results import command_line, field, markdown_table
from hypernet import Experiment, PudNetConfig

OUT = pathlib.Path(__file__).resolve().parents[1] / "results" / "hypernet"
COLUMNS = [
  ("mnist", "intra", "MNIST intra"),
  ("mnist", "intra-disjoint", "MNIST intra-disjoint"),
  ("mnist", "inter", "MNIST → digits"),
  ("cifar10", "intra", "CIFAR-10 intra"),
  ("cifar10", "intra-disjoint", "CIFAR-10 intra-disjoint"),
  ("cifar10", "inter", "CIFAR-10 → Colored-MNIST"),
]
# method -> config overrides (pudnet runs the baselines too)
VARIANTS = {
  "pudnet": {},
  "ghn_lite": {"conditioning": "blind", "baselines": False},
  "no_ahru": {"ahru": False, "baselines": False},
  "no_sketch_mix": {"skt_a": 0.0, "baselines": False},
  "weight_norm_none": {"weight_norm": "none", "baselines": False},
}
PAPER = (
  "Paper (TIP 2024 abstract, ResNet-18 on ImageNet-1K): one forward pass, top-5 44.92% in "
  "3.89 GPU-s, vs training from scratch top-5 44.65% after 8,967 GPU-s (> 2,300× faster)."
)


def run_grid(args) -> None:
  base = PudNetConfig.smoke() if args.smoke else PudNetConfig()
  over = {
    k: v for k, v in (("meta_steps", args.meta_steps), ("num_eval_tasks", args.num_eval_tasks)) if v
  }
  for item in args.set or []:
    name, _, value = item.partition("=")
    try:
      over[name] = json.loads(value)
    except json.JSONDecodeError:
      over[name] = value
  cmd = command_line(prog="benchmarks/hypernet/pudnet_compare.py")
  for dataset, setting, _ in COLUMNS:
    if args.columns and f"{dataset}:{setting}" not in args.columns:
      continue
    for method in args.methods:
      cfg = dataclasses.replace(
        base, dataset=dataset, setting=setting, method=method, **over, **VARIANTS[method]
      )
      exp = Experiment(cfg, args.data_dir)
      for seed in range(args.seeds):
        metrics = exp.run(seed, progress=not args.no_progress)
        print(
          f"{dataset} {setting} {method} seed {seed}: pudnet {metrics['pudnet_acc']:.4f}",
          flush=True,
        )
        append_run(args.runs, make_record(method, seed, exp.settings(), metrics, command=cmd))


def _cell(runs, get, scale=100.0) -> str:
  vals = [get(r) for r in runs]
  vals = [v for v in vals if v is not None]
  return fmt_pm(vals, scale=scale, digits=1) if vals else "—"


def render(runs_path: pathlib.Path, md_path: pathlib.Path) -> str:
  runs = read_runs(runs_path, key=("settings.dataset", "settings.setting", "method", "seed"))
  by = {}
  for r in runs:
    by.setdefault(
      (field(r, "settings.dataset"), field(r, "settings.setting"), r["method"]), []
    ).append(r)
  present = [c for c in COLUMNS if any(k[:2] == c[:2] for k in by)]
  m = lambda name: lambda r: field(r, f"metrics.{name}", None)  # noqa: E731
  rows_spec = [("random", "pudnet", m("random_acc"))]
  epochs = sorted({e for r in runs for e in field(r, "metrics.scratch_acc", {}) or {}}, key=int)
  rows_spec += [(f"scratch@{e}", "pudnet", m(f"scratch_acc.{e}")) for e in epochs]
  rows_spec.append(("pudnet", "pudnet", m("pudnet_acc")))
  ft = sorted({e for r in runs for e in field(r, "metrics.finetune_acc", {}) or {}}, key=int)
  rows_spec += [(f"pudnet+ft@{e}", "pudnet", m(f"finetune_acc.{e}")) for e in ft]
  rows_spec += [(v, v, m("pudnet_acc")) for v in VARIANTS if v != "pudnet"]
  rows = []
  for label, method, get in rows_spec:
    cells = [_cell(by.get((d, s, method), []), get) for d, s, _ in present]
    if any(c != "—" for c in cells):
      rows.append([label, *cells])
  acc = markdown_table(
    ["method (accuracy %, mean ± std over seeds)", *[c[2] for c in present]], rows
  )
  trows = []
  for d, s, name in present:
    rs = by.get((d, s, "pudnet"), [])
    if not rs or field(rs[0], "metrics.train_seconds", None) is None:
      continue
    pred = [field(r, "metrics.predict_seconds") for r in rs]
    train = [field(r, "metrics.train_seconds") for r in rs]
    steps = [field(r, "metrics.scratch_steps_to_match", None) for r in rs]
    steps_txt = ", ".join("> all" if x is None else str(x) for x in steps)
    trows.append([
      name, fmt_pm(pred, scale=1e3, digits=1), fmt_pm(train, digits=2),
      f"{mean_std(train)[0] / mean_std(pred)[0]:,.0f}×", steps_txt,
      f"{field(rs[0], 'settings.meta_steps')} × {field(rs[0], 'settings.meta_batch')}",
      str(len(rs)), str(field(rs[0], "settings.num_eval_tasks")),
    ])  # fmt: skip
  timing = markdown_table(
    ["column", "predict (ms)", f"scratch@{epochs[-1] if epochs else '?'} train (s)", "speed-up",
     "scratch steps to match PudNet (per seed)", "meta-steps × batch", "seeds", "eval tasks"],
    trows,
  )  # fmt: skip
  machines = sorted({r["machine"] for r in runs})
  text = "\n\n".join([
    "# PudNet: predicted ConvNets vs training from scratch",
    f"Generated by `benchmarks/hypernet/pudnet_compare.py` from `{runs_path.name}`; command(s): "
    + "; ".join(sorted({f'`{r["command"]}`' for r in runs})),
    "Accuracy on the held-out images of the evaluation sub-datasets (mean over sub-datasets per "
    "seed, then mean ± std over meta-training seeds; random and scratch do not depend on the "
    "meta-training seed).",
    acc,
    "Wall time after compilation (median of repeats, `block_until_ready`): one `predict` on the "
    "support set vs one full scratch run on one sub-dataset.",
    timing,
    PAPER,
    "Machine: " + "; ".join(machines),
  ])  # fmt: skip
  md_path.write_text(text + "\n", encoding="utf-8")
  return text


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument(
    "--data-dir", default=str(pathlib.Path(__file__).resolve().parents[3] / "shared" / "data")
  )
  p.add_argument(
    "--smoke", action="store_true", help="PudNetConfig.smoke(), MNIST intra, pudnet only"
  )
  p.add_argument("--seeds", type=int, default=3)
  p.add_argument("--meta-steps", type=int, default=None)
  p.add_argument("--num-eval-tasks", type=int, default=None)
  p.add_argument("--methods", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
  p.add_argument("--columns", nargs="*", default=None, help="e.g. mnist:intra cifar10:inter")
  p.add_argument("--runs", type=pathlib.Path, default=None)
  p.add_argument(
    "--set", nargs="*", default=None, metavar="FIELD=VALUE", help="other PudNetConfig fields"
  )
  p.add_argument("--report-only", action="store_true")
  p.add_argument("--no-progress", action="store_true")
  args = p.parse_args(argv)
  name = "pudnet_smoke" if args.smoke else "pudnet"
  args.runs = args.runs or OUT / f"{name}_runs.jsonl"
  if args.smoke and args.columns is None:
    args.columns, args.methods, args.seeds = ["mnist:intra"], ["pudnet"], 1
  if not args.report_only:
    run_grid(args)
  print(render(args.runs, args.runs.with_name(args.runs.name.replace("_runs.jsonl", ".md"))))
  return 0


if __name__ == "__main__":
  sys.exit(main())
