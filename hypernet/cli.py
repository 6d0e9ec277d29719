"""``fira-jax hypernet pudnet``: meta-train PudNet per seed, evaluate it and the baselines.

Writes one run record per seed (``fira_jax.lab.results``) to ``--json`` with the metrics
``pudnet_acc``, ``random_acc``, ``scratch_acc`` (by epochs), ``finetune_acc`` (by epochs),
``predict_seconds``, ``train_seconds`` (after compilation), the settings and the machine.
With ``--out``, meta-training is checkpointed and resumable: SIGTERM/SIGINT checkpoint the
meta-step in flight and exit with status 75 (``EXIT_PREEMPTED``); the same command resumes.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from fira_jax.lab import add_dataclass_flags, append_run, from_args, make_record
from fira_jax.lab.preemption import EXIT_PREEMPTED
from fira_jax.lab.results import command_line
from hypernet._experiment import Experiment
from hypernet.config import PudNetConfig

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument(
    "--data-dir", default=None, help="folder holding mnist/mnist.npz and cifar10/cifar10_jpeg.npz"
  )
  parser.add_argument(
    "--seeds", type=int, default=1, help="meta-training seeds 0..S-1 (default: 1)"
  )
  parser.add_argument("--seed-start", type=int, default=0, help="first seed (default: 0)")
  parser.add_argument(
    "--json", default=None, help="runs file (JSON lines) the records are appended to"
  )
  parser.add_argument("--out", default=None, help="folder for checkpoints and metrics (resumable)")
  parser.add_argument("--smoke", action="store_true", help="start from PudNetConfig.smoke()")
  parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
  add_dataclass_flags(parser, PudNetConfig)


def run(args: argparse.Namespace) -> int:
  cfg = from_args(PudNetConfig, args, base=PudNetConfig.smoke() if args.smoke else PudNetConfig())
  if args.seeds < 1:
    raise ValueError(f"--seeds must be >= 1, got {args.seeds}")
  exp = Experiment(cfg, args.data_dir)
  cmd = command_line(prog="fira-jax")
  for seed in range(args.seed_start, args.seed_start + args.seeds):
    out = pathlib.Path(args.out) / f"seed{seed}" if args.out else None
    metrics = exp.run(seed, out_dir=out, progress=not args.no_progress)
    if metrics.get("stopped") == "non-finite":
      raise ValueError(
        f"seed {seed}: {cfg.max_bad_steps} consecutive meta-steps had a non-finite loss or "
        f"gradient (skipped); stopped at step {metrics['steps_done']}. Lower --lr or check the "
        "data; --max-bad-steps sets the limit"
      )
    if metrics.get("stopped"):
      print(
        f"{metrics['stopped']}: seed {seed} stopped after meta-step {metrics['steps_done']}, "
        f"checkpoint committed in {out}; run the same command again to resume",
        file=sys.stderr,
        flush=True,
      )
      return EXIT_PREEMPTED
    record = make_record(cfg.method, seed, exp.settings(), metrics, command=cmd)
    line = f"seed {seed}: pudnet {metrics['pudnet_acc']:.4f}"
    if "random_acc" in metrics:
      sc = metrics["scratch_acc"]
      line += f" random {metrics['random_acc']:.4f} scratch {sc} finetune {metrics['finetune_acc']}"
      line += (
        f" predict {metrics['predict_seconds'] * 1e3:.1f} ms train {metrics['train_seconds']:.2f} s"
      )
    print(line, flush=True)
    if args.json:
      append_run(args.json, record)
  return 0
