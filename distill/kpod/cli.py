"""``fira-jax distill kpod``: KPOD against its ablations and baselines over several seeds.

A run appends one record per (method, seed) to ``<out stem>_runs.jsonl`` beside ``--out`` (the
format of :mod:`fira_jax.lab.results`), per-epoch metrics to ``<out stem>_metrics.jsonl``, and
renders the Markdown report ``--out`` from its runs. ``--merge`` renders one report from the runs
files of several runs (e.g. one seed per process or machine). The benchmark
``benchmarks/distill/kpod_compare.py`` runs the same command.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import shlex
import time

from distill.kpod._experiment import METHODS, KPODConfig, prepare, train_method
from distill.kpod._report import config_of, write_report
from fira_jax.lab.config_flags import add_dataclass_flags, flag_name, from_args, to_argv
from fira_jax.lab.machine import describe_machine
from fira_jax.lab.metrics import MetricsLog
from fira_jax.lab.results import append_run, make_record, read_runs, write_runs

__all__ = ["add_arguments", "run", "runs_path", "metrics_path"]

PROG = "fira-jax distill kpod"
# KPODConfig fields a command line cannot set (nested settings).
_NOT_FLAGS = ("problems",)
_AT_LEAST_ONE = ("num_train", "epochs", "weighting_steps")


def runs_path(out: pathlib.Path) -> pathlib.Path:
  """The runs file beside the report ``out``: ``<out stem>_runs.jsonl``."""
  return out.with_name(out.stem + "_runs.jsonl")


def metrics_path(out: pathlib.Path) -> pathlib.Path:
  """The default per-epoch metrics file beside ``out``: ``<out stem>_metrics.jsonl``."""
  return out.with_name(out.stem + "_metrics.jsonl")


def add_arguments(parser: argparse.ArgumentParser) -> None:
  """Registers the command's options on ``parser``."""
  parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
  parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
  parser.add_argument("--smoke", action="store_true", help="tiny settings (seconds)")
  parser.add_argument(
    "--out", type=pathlib.Path, default=pathlib.Path("kpod.md"), help="Markdown report"
  )
  parser.add_argument(
    "--metrics",
    type=pathlib.Path,
    default=None,
    help="JSONL of per-epoch metrics, appended to (default: <out stem>_metrics.jsonl)",
  )
  parser.add_argument("--quiet", action="store_true", help="no progress bars")
  parser.add_argument(
    "--merge",
    type=pathlib.Path,
    nargs="+",
    default=None,
    metavar="RUNS_JSONL",
    help="write the report from the runs files of earlier runs (e.g. one seed per process "
    "or machine, same settings) instead of training",
  )
  parser.add_argument(
    "--machine",
    default=None,
    help="with --merge: the machine of merged runs that do not record one",
  )
  group = parser.add_argument_group("settings (KPODConfig; default: the benchmark's)")
  add_dataclass_flags(group, KPODConfig, exclude=_NOT_FLAGS)


def _command(args: argparse.Namespace) -> str:
  """The command line that reproduces ``args`` (output paths left out)."""
  parts = [] if args.merge else ["--seeds", *map(str, args.seeds), "--methods", *args.methods]
  parts += ["--smoke"] if args.smoke else []
  settings = to_argv(KPODConfig, args)
  if args.merge:
    parts += ["--merge", *map(str, args.merge)]
    parts += ["--machine", args.machine] if args.machine else []
  return " ".join(filter(None, [PROG, shlex.join(parts), settings]))


def _check(args: argparse.Namespace) -> KPODConfig:
  """The settings the flags ask for, with the command's own checks."""
  for name in _AT_LEAST_ONE:
    value = getattr(args, name, None)
    if value is not None and value < 1:
      raise ValueError(f"{flag_name(name)} must be >= 1, got {value}")
  if args.weighting_warmup is not None and args.weighting_warmup < 0:
    raise ValueError(f"--weighting-warmup must be >= 0, got {args.weighting_warmup}")
  if args.alpha is not None and not args.alpha >= 0:
    raise ValueError(f"--alpha must be >= 0, got {args.alpha}")
  cfg = from_args(KPODConfig, args, base=KPODConfig.smoke() if args.smoke else KPODConfig())
  if cfg.weighting_warmup >= cfg.weighting_steps:
    raise ValueError(
      f"--weighting-warmup ({cfg.weighting_warmup}) must be smaller than --weighting-steps "
      f"({cfg.weighting_steps}): the masks learn only after the warm-up"
    )
  return cfg


def _merge(args: argparse.Namespace, asked: KPODConfig, command: str) -> int:
  """``--merge``: one report (and one runs file) from several runs files."""
  try:
    runs = read_runs(*args.merge)
  except (ValueError, FileNotFoundError) as e:
    raise type(e)(f"--merge: {e}") from None
  if not runs:
    raise ValueError(f"--merge: no runs in {', '.join(map(str, args.merge))}")
  try:
    cfg = config_of(runs)
  except (ValueError, TypeError) as e:
    raise ValueError(f"--merge: {e}") from None
  # Settings given on the command line (all of them with --smoke) must be the runs' own.
  given = {
    f.name for f in dataclasses.fields(KPODConfig) if getattr(args, f.name, None) is not None
  }
  names = [f.name for f in dataclasses.fields(KPODConfig)] if args.smoke else sorted(given)
  for name in names:
    if getattr(cfg, name) != getattr(asked, name):
      raise ValueError(
        f"--merge: the runs were trained with {name} = {getattr(cfg, name)!r}, the settings "
        f"given say {getattr(asked, name)!r}; leave it out or pass the runs' own value"
      )
  if args.machine:
    runs = [r if r.get("machine") else {**r, "machine": args.machine} for r in runs]
  order = {m: i for i, m in enumerate(METHODS)}
  runs.sort(key=lambda r: (r["seed"], order.get(r["method"], len(order))))
  write_report(args.out, runs, command=command, machine=args.machine, merged=args.merge)
  write_runs(runs_path(args.out), runs)
  return 0


def run(args: argparse.Namespace) -> int:
  """Runs the comparison (or ``--merge``) and writes the report and its runs file."""
  cfg = _check(args)
  command = getattr(args, "command_line", None) or _command(args)
  if args.merge:
    return _merge(args, cfg, command)
  log = MetricsLog.at(args.metrics or metrics_path(args.out), append=True)
  out_runs = runs_path(args.out)
  write_runs(out_runs, [])
  runs, t0, machine = [], time.perf_counter(), describe_machine()
  for seed in args.seeds:
    prep = prepare(cfg, seed, progress=not args.quiet)
    for method in args.methods:
      r = train_method(method, prep, cfg, seed, progress=not args.quiet, metrics_log=log)
      print(
        f"seed {seed} {method}: in-distribution {r['accuracy']:.3f}, "
        f"longer chains {r['ood_accuracy']:.3f}",
        flush=True,
      )
      metrics = {k: v for k, v in r.items() if k not in ("method", "seed", "losses")}
      metrics["weight_stats"] = prep.weight_stats
      if getattr(prep, "weight_trace", None):
        metrics["weight_trace"] = prep.weight_trace
      record = make_record(method, seed, cfg.to_dict(), metrics, command=command, machine=machine)
      append_run(out_runs, record)
      runs.append(record)
      write_report(
        args.out, runs, command=command, seconds=time.perf_counter() - t0, machine=machine
      )
  return 0
