"""``fira-jax graphs adadygnn``: Ada-DyGNN (or a propagation baseline) on a temporal graph,
with optional training-stream noise, over seeds; writes JSON.

Example::

  fira-jax graphs adadygnn --data-dir ../shared/data/uci_msg --policy learned \\
      --noise insert --rho 0.2 --epochs 5 --seeds 5 --json ada.json

``--dataset uci`` (default) reads ``CollegeMsg.txt`` from ``--data-dir``; any other name reads
the official ``ml_<name>.csv`` + ``ml_<name>.npy`` from ``--data-dir``. Every
:class:`~graphs.adadygnn.AdaDyGNNConfig` field is a flag (``--reward official``,
``--no-mask-padding``, ...). :func:`seed_run` (one seed as a dict of metrics) is the loop body
that ``benchmarks/graphs/adadygnn_compare.py`` reuses.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib

from fira_jax.lab.config_flags import add_dataclass_flags, from_args
from fira_jax.lab.machine import describe_machine
from graphs.adadygnn._config import POLICIES, AdaDyGNNConfig
from graphs.adadygnn._data import (
  NOISE_KINDS,
  TemporalSplit,
  check_noise,
  chronological_split,
  inject_noise,
  load_college_msg,
  load_official_csv,
)
from graphs.adadygnn._train import EVAL_SETS, train_adadygnn

__all__ = ["add_arguments", "run", "load_split", "seed_run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
  """Registers the run options, then one flag per :class:`AdaDyGNNConfig` field."""
  parser.add_argument(
    "--dataset",
    default="uci",
    help="uci (CollegeMsg.txt) or the <name> of official ml_<name>.csv files",
  )
  parser.add_argument(
    "--data-dir",
    default=None,
    help="folder with the data files (default: $FIRA_JAX_DATA_DIR/uci_msg or "
    "the download cache, for uci)",
  )
  parser.add_argument("--download", action="store_true", help="fetch CollegeMsg if missing")
  parser.add_argument("--policy", default="learned", choices=list(POLICIES))
  parser.add_argument(
    "--noise",
    default="insert",
    choices=list(NOISE_KINDS),
    help="how the training stream is corrupted (with --rho > 0)",
  )
  parser.add_argument("--rho", type=float, default=0.0, help="noise ratio (0: clean)")
  parser.add_argument("--epochs", type=int, default=50)
  parser.add_argument("--seeds", type=int, default=1, help="number of seeds (0..seeds-1)")
  parser.add_argument("--json", default=None, help="write results to this JSON file")
  parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
  add_dataclass_flags(
    parser.add_argument_group("Ada-DyGNN (graphs.adadygnn.AdaDyGNNConfig)"),
    AdaDyGNNConfig,
    exclude=("policy",),
    choices={
      "entropy": ("official", "bernoulli"),
      "reward": ("paper", "official"),
      "policy_sides": ("both", "dst_only"),
    },
  )


def load_split(dataset: str, data_dir: str | None, download: bool = False) -> TemporalSplit:
  """The chronological split of ``uci`` (CollegeMsg) or of official ``ml_<dataset>`` files."""
  if dataset.lower() in ("uci", "collegemsg"):
    return chronological_split(load_college_msg(data_dir, download=download))
  if data_dir is None:
    raise ValueError(f"--data-dir is required for the official-format dataset {dataset!r}")
  return chronological_split(load_official_csv(dataset, data_dir))


def seed_run(
  split: TemporalSplit,
  config: AdaDyGNNConfig,
  seed: int,
  epochs: int,
  noise: str = "insert",
  rho: float = 0.0,
  progress: bool = False,
) -> dict:
  """One seed: injects the noise, trains and evaluates (see :func:`train_adadygnn`).

  Returns:
    ``{"transductive": test metrics, "inductive": new-node test metrics, "val",
    "new_node_val", "epochs": per-epoch statistics, "seconds_per_epoch", "split_sizes",
    "noise", "rho"}``.
  """
  noisy = inject_noise(split, noise, rho, seed)
  res = train_adadygnn(noisy, config, seed=seed, epochs=epochs, progress=progress)
  out = {
    "transductive": res["test"],
    "inductive": res["new_node_test"],
    **{name: res[name] for name in EVAL_SETS if name not in ("test", "new_node_test")},
  }
  return {
    **out,
    "epochs": res["epochs"],
    "seconds_per_epoch": res["seconds_per_epoch"],
    "eval_seconds": res["eval_seconds"],
    "split_sizes": res["split_sizes"],
    "noise": noise,
    "rho": rho,
  }


def run(args: argparse.Namespace) -> int:
  """Runs the seeds and writes one record per seed."""
  if args.seeds < 1 or args.epochs < 1:
    raise ValueError("--seeds and --epochs must be >= 1")
  check_noise(args.noise, args.rho)
  config = from_args(AdaDyGNNConfig, args, policy=args.policy)
  split = load_split(args.dataset, args.data_dir, args.download)
  runs = []
  for seed in range(args.seeds):
    res = seed_run(split, config, seed, args.epochs, args.noise, args.rho, args.progress)
    runs.append({"seed": seed, **res})
    t, i = res["transductive"], res["inductive"]
    print(
      f"seed {seed}: transductive AP {t['ap']:.4f} MRR {t['mrr']:.4f} | "
      f"inductive AP {i['ap']:.4f} MRR {i['mrr']:.4f}"
    )
  out = {
    "dataset": args.dataset.lower(),
    "policy": args.policy,
    "noise": args.noise,
    "rho": args.rho,
    "epochs": args.epochs,
    "split_sizes": runs[0]["split_sizes"],
    "clean_split_sizes": split.split_sizes(),
    "settings": dataclasses.asdict(config),
    "machine": describe_machine(),
    "data_sha256": split.data.sha256,
    "runs": runs,
  }
  if args.json:
    pathlib.Path(args.json).write_text(json.dumps(out, indent=2))
  return 0
