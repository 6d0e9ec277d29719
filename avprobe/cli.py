"""``fira-jax avprobe run``: generate probe items (or load the official parquet), run a model,
print the table and optionally write the JSON report.

Example::

  fira-jax avprobe run --model oracle --tasks loudness pitch --n 20 --json report.json
"""

from __future__ import annotations

import argparse
import json
import pathlib

from avprobe._items import TASKS, make_items
from avprobe._models import load_model, run_model
from avprobe._parquet import load_official_deaftest
from avprobe._parser import MODES
from avprobe._scoring import report_table, score

__all__ = ["add_item_arguments", "items_from_args", "add_arguments", "run"]


def add_item_arguments(parser: argparse.ArgumentParser) -> None:
  """The item generation flags shared by ``run`` and ``export``."""
  parser.add_argument(
    "--tasks",
    nargs="+",
    default=["loudness", "pitch", "duration", "counting"],
    help=f"tasks among {', '.join(TASKS)} (default: the four main ones)",
  )
  parser.add_argument("--n", type=int, default=20, help="items per difficulty cell (default 20)")
  parser.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
  parser.add_argument("--sr", type=int, default=44100, help="sample rate in Hz (default 44100)")
  parser.add_argument(
    "--duration",
    type=float,
    default=1.0,
    help="tone length in seconds for loudness and pitch (default 1.0)",
  )
  parser.add_argument("--timbre", choices=["sine", "harmonic"], default="sine")
  parser.add_argument(
    "--letter-shuffle", action="store_true", help="draw which letter names which clip per item"
  )
  parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def items_from_args(args: argparse.Namespace):
  """The items the flags describe."""
  tasks = [t for arg in args.tasks for t in arg.split(",") if t]
  return make_items(
    tasks,
    n_per_cell=args.n,
    seed=args.seed,
    sr=args.sr,
    duration=args.duration,
    timbre=args.timbre,
    letter_shuffle=args.letter_shuffle,
  )


def add_arguments(parser: argparse.ArgumentParser) -> None:
  """Flags of ``fira-jax avprobe run``."""
  parser.add_argument(
    "--model",
    default="oracle",
    help="oracle, sentence_oracle, constant, random, noisy or module:callable "
    "(a function model(prompt, audios, sample_rate, options) -> str)",
  )
  parser.add_argument("--sigma", type=float, default=2.0, help="noise of --model noisy")
  parser.add_argument("--mode", choices=list(MODES), default="avodyssey", help="answer parser")
  parser.add_argument(
    "--parquet", default=None, help="score the items of an official DeafTest parquet instead"
  )
  parser.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples (default 200)")
  parser.add_argument("--json", default=None, help="write the JSON report here")
  add_item_arguments(parser)


def run(args: argparse.Namespace) -> int:
  """Runs the model on the items and prints the report's table."""
  model = load_model(args.model, seed=args.seed, sigma=args.sigma)
  items = load_official_deaftest(args.parquet) if args.parquet else items_from_args(args)
  responses = run_model(model, items, progress=not args.no_progress)
  report = score(items, responses, mode=args.mode, n_boot=args.n_boot, seed=args.seed)
  report["model"] = args.model
  print(report_table(report))
  o = report["overall"]
  print(
    f"overall: {o['acc']:.3f} [{o['ci'][0]:.3f}, {o['ci'][1]:.3f}] on {o['n']} items, "
    f"parse failures {o['parse_fail_rate']:.2f} ({args.mode})"
  )
  if args.json:
    path = pathlib.Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1), encoding="utf-8")
  return 0
