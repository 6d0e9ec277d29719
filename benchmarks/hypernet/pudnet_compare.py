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
import os
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from fira_jax.lab import NNXTrainer, append_run, fmt_pm, make_record, mean_std, read_runs
from fira_jax.lab.results import command_line, field, markdown_table
from hypernet import (
  Experiment,
  ImageSet,
  PudNetConfig,
  build_pudnet,
  make_pool,
  meta_loss_fn,
  meta_optimizer,
  predict,
  sample_episode,
  timed,
)

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
NOTES = (
  "Status: only the performance check has been run. The MNIST grid (command in "
  "`PudNetConfig`'s docstring) did not finish its first seed in 26 minutes on the shared 2-core "
  "CPU: the scratch@50 baseline is 8 sub-datasets x 400 Adam steps of Net-A plus a timed run, "
  "and the process ran at nice 10 beside other jobs (load 6-14). The smoke result "
  "(`pudnet_smoke.md`: 30 meta-steps, 1 seed, 4 sub-datasets) is the only accuracy measured: "
  "PudNet 71.5% vs random 19.5%, i.e. above chance by far after a tiny meta-training, below "
  "scratch@5 (75.2%) and beaten by one epoch of fine-tuning from its prediction (79.3%). It says "
  "nothing yet about the paper's claim; the grid will."
)
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


def run_timing(args) -> None:
  """One ``predict`` on Net-B (5 x 10 support images) and one meta-training step, after
  compilation; the steps run under a device-to-host transfer guard, so a host round trip
  inside the meta-training loop would raise."""
  cfg = PudNetConfig(dataset="cifar10", meta_batch=args.timing_meta_batch)
  rng = np.random.default_rng(0)
  x = rng.integers(0, 256, (1000, 32, 32, 3), dtype=np.uint8)
  pool = make_pool(ImageSet(x, np.arange(1000, dtype=np.int32) % 10, 10))
  model = build_pudnet(cfg, 0)
  ep = sample_episode(pool, jax.random.key(0), k=cfg.k, n_train=cfg.n_support, n_test=0)
  sx = ep.train.reshape(-1, 32, 32, 3)
  sy = jnp.repeat(jnp.arange(cfg.k), cfg.n_support)
  predict_s, predict_compile = timed(lambda: predict(model, sx, sy)[0], repeats=10)
  loss_fn = meta_loss_fn(
    cfg.way, cfg.n_support, cfg.n_query, cfg.meta_batch, episode_map=cfg.episode_map
  )
  trainer = NNXTrainer(model, meta_optimizer(cfg.lr, cfg.b1, cfg.b2), loss_fn)
  key = jax.random.key(1)
  tic = time.perf_counter()
  jax.block_until_ready(trainer.step(pool, jax.random.fold_in(key, 0))[0])
  step_compile = time.perf_counter() - tic
  n = args.timing_steps
  with jax.transfer_guard_device_to_host("disallow"):
    tic = time.perf_counter()
    for t in range(1, n + 1):
      loss, _ = trainer.step(pool, jax.random.fold_in(key, t))  # no host sync in between
    jax.block_until_ready(loss)
    step_s = (time.perf_counter() - tic) / n
  metrics = {
    "predict_seconds": predict_s, "predict_compile_seconds": predict_compile,
    "meta_step_seconds": step_s, "meta_step_compile_seconds": step_compile,
    "host_transfers_between_steps": 0, "load_average": os.getloadavg()[0],
  }  # fmt: skip
  settings = {
    **dataclasses.asdict(cfg), "target_name": cfg.target_name,
    "support": f"{cfg.k}x{cfg.n_support}", "timing_steps": n,
  }  # fmt: skip
  cmd = command_line(prog="benchmarks/hypernet/pudnet_compare.py")
  append_run(args.runs, make_record("timing:net_b", 0, settings, metrics, command=cmd))
  print(f"predict {predict_s * 1e3:.1f} ms, meta-step {step_s:.2f} s (B = {cfg.meta_batch})")


def _timing_table(runs) -> str:
  rows = []
  for r in runs:
    if not r["method"].startswith("timing"):
      continue
    m, s = r["metrics"], r["settings"]
    rows.append([
      s["target_name"], s["support"], f"{m['predict_seconds'] * 1e3:.1f}",
      f"{m['predict_compile_seconds']:.1f}", f"{s['meta_batch']} x {s['n_support'] + s['n_query']}",
      f"{m['meta_step_seconds']:.2f}", f"{m['meta_step_compile_seconds']:.1f}",
      f"{m['load_average']:.1f}",
    ])  # fmt: skip
  if not rows:
    return ""
  return markdown_table(
    ["target", "support (k x n)", "predict (ms)", "predict compile (s)",
     "meta-step episodes x images", "meta-step (s)", "meta-step compile (s)", "load average"],
    rows,
  )  # fmt: skip


def _cell(runs, get, scale=100.0, task_std=None) -> str:
  """``mean ± std over seeds``, then ``[± std over all (seed, sub-dataset) pairs]`` when the
  per-seed std over sub-datasets is recorded (equal sub-datasets per seed)."""
  pairs = [(get(r), task_std(r) if task_std else None) for r in runs]
  pairs = [(v, t) for v, t in pairs if v is not None]
  if not pairs:
    return "—"
  text = fmt_pm([v for v, _ in pairs], scale=scale, digits=1)
  if all(t is not None for _, t in pairs):
    grand = float(np.mean([v for v, _ in pairs]))
    pooled = float(np.sqrt(np.mean([t**2 + (v - grand) ** 2 for v, t in pairs])))
    text += f" [± {pooled * scale:.1f}]"
  return text


def _loss_table(by, present) -> str:
  """Meta-training query loss by step (mean over seeds), to show where it levels off."""
  rows, steps = [], None
  for d, s, name in present:
    for method in VARIANTS:
      hists = [field(r, "metrics.meta_history", None) for r in by.get((d, s, method), [])]
      hists = [h for h in hists if h]
      if not hists:
        continue
      steps = [h["step"] for h in hists[0]]
      mean = np.mean([[h["loss"] for h in hist[: len(steps)]] for hist in hists], axis=0)
      rows.append([f"{name}, {method}", *[f"{v:.3f}" for v in mean]])
  if not rows:
    return ""
  return markdown_table(["meta-loss (mean over seeds) at step", *map(str, steps)], rows)


def render(runs_path: pathlib.Path, md_path: pathlib.Path) -> str:
  runs = read_runs(runs_path, key=("settings.dataset", "settings.setting", "method", "seed"))
  timing_runs = [r for r in runs if r["method"].startswith("timing")]
  runs = [r for r in runs if not r["method"].startswith("timing")]
  by = {}
  for r in runs:
    by.setdefault(
      (field(r, "settings.dataset"), field(r, "settings.setting"), r["method"]), []
    ).append(r)
  present = [c for c in COLUMNS if any(k[:2] == c[:2] for k in by)]
  m = lambda name: lambda r: field(r, f"metrics.{name}", None)  # noqa: E731
  rows_spec = [("random", "pudnet", "random_acc", "random_task_std")]
  epochs = sorted({e for r in runs for e in field(r, "metrics.scratch_acc", {}) or {}}, key=int)
  rows_spec += [
    (f"scratch@{e}", "pudnet", f"scratch_acc.{e}", f"scratch_task_std.{e}") for e in epochs
  ]
  rows_spec.append(("pudnet", "pudnet", "pudnet_acc", "pudnet_task_std"))
  ft = sorted({e for r in runs for e in field(r, "metrics.finetune_acc", {}) or {}}, key=int)
  rows_spec += [
    (f"pudnet+ft@{e}", "pudnet", f"finetune_acc.{e}", f"finetune_task_std.{e}") for e in ft
  ]
  rows_spec += [(v, v, "pudnet_acc", "pudnet_task_std") for v in VARIANTS if v != "pudnet"]
  rows = []
  for label, method, name, std_name in rows_spec:
    cells = [
      _cell(by.get((d, s, method), []), m(name), task_std=m(std_name)) for d, s, _ in present
    ]
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
  parts = [
    "# PudNet: predicted ConvNets vs training from scratch",
    f"Generated by `benchmarks/hypernet/pudnet_compare.py` from `{runs_path.name}`; command(s): "
    + "; ".join(sorted({f'`{r["command"]}`' for r in runs})),
    "Accuracy on the held-out images of the evaluation sub-datasets: mean ± std over "
    "meta-training seeds of the per-seed mean over sub-datasets, then in brackets the std over "
    "all (seed, sub-dataset) pairs. Random and scratch do not depend on the meta-training seed "
    "(their seed std is 0; the bracket is their spread over sub-datasets).",
    acc,
    "Wall time after compilation (median of repeats, `block_until_ready`): one `predict` on the "
    "support set vs one full scratch run on one sub-dataset.",
    timing,
    _loss_table(by, present) or "",
    NOTES,
    "Performance check (Net-B, CPU, after compilation; the timed meta-steps run under "
    "`jax.transfer_guard_device_to_host('disallow')`, so the loop has no host round trip):",
    _timing_table(timing_runs) or "(not run yet: `--timing`)",
    PAPER,
    "Machine: " + "; ".join(sorted({r["machine"] for r in runs + timing_runs})),
  ]  # fmt: skip
  text = "\n\n".join(x for x in parts if x)
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
  p.add_argument("--timing", action="store_true", help="only the predict / meta-step timing")
  p.add_argument("--timing-steps", type=int, default=5)
  p.add_argument("--timing-meta-batch", type=int, default=8)
  p.add_argument("--no-progress", action="store_true")
  args = p.parse_args(argv)
  name = "pudnet_smoke" if args.smoke else "pudnet"
  args.runs = args.runs or OUT / f"{name}_runs.jsonl"
  if args.smoke and args.columns is None:
    args.columns, args.methods, args.seeds = ["mnist:intra"], ["pudnet"], 1
  if args.timing:
    run_timing(args)
  elif not args.report_only:
    run_grid(args)
  print(render(args.runs, args.runs.with_name(args.runs.name.replace("_runs.jsonl", ".md"))))
  return 0


if __name__ == "__main__":
  sys.exit(main())
