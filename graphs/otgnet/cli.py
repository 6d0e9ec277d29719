"""``fira-jax graphs otgnet``: class-incremental OTGNet (or a baseline) over seeds, write JSON.

Example::

  fira-jax graphs otgnet --dataset synth --method otgnet --epochs 20 --seeds 5 --json otg.json

Every :class:`~graphs.otgnet.OTGNetConfig` field is a flag (``--gamma 0``, ``--no-use-ib``...).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib

from fira_jax.lab.config_flags import add_dataclass_flags, from_args
from fira_jax.lab.machine import describe_machine
from graphs.otgnet._config import METHODS, OTGNetConfig, method_config
from graphs.otgnet._data import DATASETS, OTGData, make_synth, planetoid_stream
from graphs.otgnet._train import train_otgnet

__all__ = ["add_arguments", "run", "load_dataset"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
  """Registers the run options, then one flag per :class:`OTGNetConfig` field."""
  parser.add_argument("--dataset", default="synth", help=f"one of {list(DATASETS)}")
  parser.add_argument("--data-dir", default=None, help="folder with the Planetoid ind.* files")
  parser.add_argument("--method", default="otgnet", choices=list(METHODS))
  parser.add_argument("--epochs", type=int, default=50)
  parser.add_argument("--seeds", type=int, default=1, help="number of seeds (0..seeds-1)")
  parser.add_argument("--json", default=None, help="write results to this JSON file")
  parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
  parser.add_argument(
    "--synth-per-class", type=int, default=200, help="OTG-Synth nodes per class (n_per_class)"
  )
  parser.add_argument(
    "--synth-edges", type=int, default=10, help="OTG-Synth edges per node per task (m)"
  )
  add_dataclass_flags(
    parser.add_argument_group("OTGNet (graphs.otgnet.OTGNetConfig)"), OTGNetConfig
  )


def load_dataset(name: str, data_dir: str | None, seed: int, **synth) -> OTGData:
  """``synth`` (seeded by ``seed``; ``synth`` are :func:`make_synth` keywords), or the
  Cora/Citeseer stream from ``data_dir``."""
  name = name.lower()
  if name == "synth":
    return make_synth(seed, **synth)
  if name not in DATASETS:
    raise ValueError(f"dataset must be one of {list(DATASETS)}, got {name!r}")
  if data_dir is None:
    raise ValueError(f"--data-dir is required for {name}")
  return planetoid_stream(name, data_dir, seed)


def run(args: argparse.Namespace) -> int:
  """Runs the seeds and writes one record per seed."""
  if args.seeds < 1 or args.epochs < 1:
    raise ValueError("--seeds and --epochs must be >= 1")
  config = from_args(OTGNetConfig, args, base=method_config(args.method))
  runs = []
  for seed in range(args.seeds):
    data = load_dataset(
      args.dataset, args.data_dir, seed, n_per_class=args.synth_per_class, m=args.synth_edges
    )
    res = train_otgnet(data, config, seed=seed, epochs=args.epochs, progress=args.progress)
    runs.append({"seed": seed, "data_sha256": data.sha256, **res})
    print(f"seed {seed}: AP {100 * res['ap']:.2f}  AF {100 * res['af']:.2f}")
  out = {
    "dataset": args.dataset.lower(),
    "method": args.method,
    "epochs": args.epochs,
    "settings": dataclasses.asdict(config),
    "machine": describe_machine(),
    "runs": runs,
  }
  if args.json:
    pathlib.Path(args.json).write_text(json.dumps(out, indent=2))
  return 0
