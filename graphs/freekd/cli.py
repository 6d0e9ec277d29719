"""``fira-jax graphs freekd``: train FreeKD / FreeKD-Prompt / FreeKD++ on Planetoid, write JSON.

Example::

  fira-jax graphs freekd --dataset cora --data-dir ../shared/data/planetoid --backbone gcn \\
      --variant freekd --num-gnns 2 --seeds 10 --json results.json

Every :class:`~graphs.FreeKDConfig` field is a flag (``--reward local``, ``--mu 0.5``, …).
:func:`single_run` and :func:`freekd_run` (one seed, one method, as a dict of metrics) are the
loop bodies that ``benchmarks/graphs/freekd_compare.py`` reuses.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import time
from collections.abc import Sequence

import jax
import numpy as np

from fira_jax.lab import stats
from fira_jax.lab.config_flags import add_dataclass_flags, from_args
from graphs._node_classifier import NodeTrainConfig, train_node_classifier
from graphs._planetoid import DATASETS, NodeData, load_planetoid, random_split
from graphs._sharding import shard_node_data
from graphs.freekd._config import PROMPTS, FreeKDConfig
from graphs.freekd._teacher import KDResult, TeacherConfig, train_student_kd, train_teacher
from graphs.freekd._train import train_freekd

__all__ = [
  "VARIANTS",
  "add_arguments",
  "run",
  "variant_config",
  "single_run",
  "freekd_run",
  "teacher_kd_run",
]

# variant -> (default K, FreeKDConfig fields it changes unless given as flags)
VARIANTS: dict[str, tuple[int, dict]] = {
  "freekd": (2, {}),
  "prompt": (2, {"prompt": "shared"}),
  "plusplus": (3, {"feature_mask_rate": 0.1, "edge_drop_rate": 0.1}),
  "dml": (2, {"direction": "mutual", "structure": "none", "rho": 0.0}),
  "teacher_kd": (1, {}),
}
TEACHER_KD = "teacher_kd"  # classic KD from a deep teacher: not a FreeKDConfig run


def add_arguments(parser: argparse.ArgumentParser) -> None:
  """Registers the ``freekd`` options (run options, then one flag per FreeKDConfig field)."""
  default_dir = os.environ.get("FIRA_JAX_DATA_DIR")
  parser.add_argument("--dataset", default="cora", help=f"one of {list(DATASETS)}")
  parser.add_argument(
    "--data-dir",
    default=str(pathlib.Path(default_dir) / "planetoid") if default_dir else None,
    help="folder with the ind.<dataset>.* files (default: $FIRA_JAX_DATA_DIR/planetoid)",
  )
  parser.add_argument("--download", action="store_true", help="fetch missing files if online")
  parser.add_argument(
    "--backbone", default="gcn", help="gcn, gat, sage, or a comma list with one per GNN"
  )
  parser.add_argument(
    "--variant",
    default="freekd",
    choices=list(VARIANTS),
    help="freekd; prompt (FreeKD-Prompt: --prompt shared unless given); plusplus (FreeKD++: "
    "3 GNNs, --feature-mask-rate and --edge-drop-rate 0.1 unless given); dml (deep mutual "
    "learning: every GNN teaches every other its soft labels, --direction mutual --structure "
    "none --rho 0 unless given); teacher_kd (classic KD: a deep residual GCN teacher, "
    "--teacher-layers deep, trained first and selected on validation, teaches one shallow "
    "student with weight --mu at temperature --temperature)",
  )
  parser.add_argument("--num-gnns", type=int, default=None, help="K (default 2; 3 for plusplus)")
  parser.add_argument("--seeds", type=int, default=1, help="number of seeds (0..seeds-1)")
  parser.add_argument("--epochs", type=int, default=300)
  parser.add_argument("--patience", type=int, default=100)
  parser.add_argument(
    "--split",
    default="public",
    choices=("public", "random"),
    help="public Planetoid split or per-seed 60/20/20 random split",
  )
  parser.add_argument("--no-baseline", action="store_true", help="skip the single-GNN runs")
  parser.add_argument(
    "--shard",
    action="store_true",
    help="pad the graph and shard nodes and edges over all devices (graphs.shard_node_data)",
  )
  parser.add_argument(
    "--teacher-layers", type=int, default=8, help="teacher_kd: depth of the teacher (> 2)"
  )
  parser.add_argument("--json", default=None, help="write results to this JSON file")
  parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
  group = parser.add_argument_group("FreeKD hyper-parameters (graphs.FreeKDConfig)")
  add_dataclass_flags(
    group,
    FreeKDConfig,
    choices={"prompt": PROMPTS},
    help={"prompt": "prompt kind for --variant prompt (default: shared)"},
  )


def variant_config(variant: str, args: argparse.Namespace | None = None) -> FreeKDConfig:
  """The :class:`FreeKDConfig` of ``variant`` with the flags given in ``args`` applied."""
  base = FreeKDConfig(**VARIANTS[variant][1])
  if args is None:
    return base
  if getattr(args, "prompt", None) is not None and variant != "prompt":
    raise ValueError(f"--prompt applies to --variant prompt, not {variant!r}")
  return from_args(FreeKDConfig, args, base=base)


def single_run(
  data: NodeData, backbone: str, seed: int, train_config: NodeTrainConfig, progress: bool = False
) -> dict:
  """One GNN alone: ``test_acc`` (a one-element list), ``val_acc``, ``best_epoch``,
  ``epochs_run`` and ``seconds_per_epoch`` (wall time over epochs, compilation included)."""
  start = time.perf_counter()
  res = train_node_classifier(
    data, backbone, seed=seed, train_config=train_config, progress=progress
  )
  epochs = len(res.history["val_acc"])
  return {
    "test_acc": [res.test_acc],
    "val_acc": [res.val_acc],
    "best_epoch": [res.best_epoch],
    "epochs_run": epochs,
    "seconds_per_epoch": (time.perf_counter() - start) / epochs,
  }


def freekd_run(
  data: NodeData,
  backbones: Sequence[str],
  config: FreeKDConfig,
  seed: int,
  train_config: NodeTrainConfig,
  progress: bool = False,
) -> dict:
  """One FreeKD run: per-network ``test_acc``, ``test_acc_original``, ``val_acc``,
  ``best_epoch``; ``epochs_run``, ``seconds_per_epoch`` (median epoch after the first) and
  ``final_share_sender`` (last epoch's share of nodes taught by each network) and
  ``diagnostics`` (the direction policy after warm-up, every 10 epochs and on average: share
  of the most used sender, how often the sender is the network that is right on contested
  training / validation nodes, mean reward, policy entropy)."""
  res = train_freekd(
    data, backbones, config=config, train_config=train_config, seed=seed, progress=progress
  )
  return {
    "test_acc": res.test_acc,
    "test_acc_original": res.test_acc_original,
    "val_acc": res.val_acc,
    "best_epoch": res.best_epoch,
    "epochs_run": len(res.history["loss"]),
    "seconds_per_epoch": float(np.median(res.history["seconds"][1:])),
    "final_share_sender": res.history["share_sender"][-1].tolist(),
    "diagnostics": _diagnostics(res.history, config.warmup),
  }


def teacher_kd_run(
  data: NodeData,
  backbone: str,
  seed: int,
  train_config: NodeTrainConfig,
  *,
  mu: float = 1.0,
  temperature: float = 1.0,
  teacher: KDResult | None = None,
  teacher_config: TeacherConfig | None = None,
) -> dict:
  """One classic-KD run: the deep teacher (trained here unless ``teacher`` is given), then the
  shallow student. Keys as :func:`single_run` plus ``teacher_val_acc``, ``teacher_test_acc``,
  ``teacher_layers`` and ``student_layers``."""
  start = time.perf_counter()
  if teacher is None:
    teacher = train_teacher(data, config=teacher_config, train_config=train_config, seed=seed)
  res = train_student_kd(
    data, teacher.logits, backbone, mu=mu, temperature=temperature,
    train_config=train_config, seed=seed,
  )  # fmt: skip
  return {
    "test_acc": [res.test_acc],
    "val_acc": [res.val_acc],
    "best_epoch": [res.best_epoch],
    "teacher_val_acc": teacher.val_acc,
    "teacher_test_acc": teacher.test_acc,
    "teacher_layers": teacher.layers,
    "student_layers": res.layers,
    "wall_s": time.perf_counter() - start,
  }


def _diagnostics(history: dict, warmup: int, every: int = 10) -> dict:
  """The policy's per-epoch diagnostics after warm-up, every ``every`` epochs, and their means."""
  keys = ("right_sender_train", "right_sender_val", "reward", "policy_entropy")
  top = np.max(history["share_sender"], -1)  # share of the most used sender
  idx = np.arange(warmup, top.shape[0])
  out = {"epoch": idx[::every].tolist(), "top_share": top[idx][::every].tolist()}
  out.update({k: np.asarray(history[k])[idx][::every].tolist() for k in keys})
  out["mean"] = {"top_share": _mean(top[idx])}
  out["mean"].update({k: _mean(np.asarray(history[k])[idx]) for k in keys})
  return out


def _mean(values: np.ndarray) -> float:
  """Mean of the finite values (NaN when there are none, e.g. no agent step)."""
  finite = values[np.isfinite(values)]
  return float(finite.mean()) if finite.size else float("nan")


def _backbones(args: argparse.Namespace) -> list[str]:
  k = args.num_gnns if args.num_gnns is not None else VARIANTS[args.variant][0]
  if args.variant == TEACHER_KD:
    if k != 1:
      raise ValueError(f"--variant teacher_kd trains one student, got --num-gnns {k}")
    names = [b.strip() for b in args.backbone.split(",")]
    if len(names) != 1:
      raise ValueError(f"--variant teacher_kd takes one --backbone, got {args.backbone!r}")
    return names
  if k < 2:
    raise ValueError(f"--num-gnns must be >= 2 (FreeKD exchanges between K >= 2 GNNs), got {k}")
  names = [b.strip() for b in args.backbone.split(",")]
  if len(names) == 1:
    names = names * k
  if len(names) != k:
    raise ValueError(f"--backbone needs 1 or {k} comma-separated names, got {args.backbone!r}")
  return names


def _summary(out: dict, k: int) -> dict:
  def pm(values):
    mean, std = stats.mean_std(values)
    return {"mean": mean, "std": std}

  summary = {
    "test_acc_per_gnn": [pm([t[i] for t in out["test_acc"]]) for i in range(k)],
    "test_acc_mean_over_gnns": pm([np.mean(t) for t in out["test_acc"]]),
  }
  if out["baseline_test_acc"]:
    summary["baseline_test_acc"] = pm(out["baseline_test_acc"])
  return summary


def run(args: argparse.Namespace) -> int:
  """Runs the seeds, prints a summary and writes the JSON file."""
  names = _backbones(args)
  if args.seeds < 1:
    raise ValueError(f"--seeds must be >= 1, got {args.seeds}")
  if args.data_dir is None:
    raise ValueError("--data-dir is required (or set FIRA_JAX_DATA_DIR)")
  config = variant_config(args.variant, args)
  teacher_config = TeacherConfig(layers=args.teacher_layers) if args.variant == TEACHER_KD else None
  train_config = NodeTrainConfig(epochs=args.epochs, patience=args.patience)
  base = load_planetoid(args.dataset, args.data_dir, download=args.download)
  single_names = list(dict.fromkeys(names))
  out: dict = {
    "dataset": args.dataset.lower(),
    "variant": args.variant,
    "backbones": names,
    "num_gnns": len(names),
    "split": args.split,
    "devices": jax.device_count() if args.shard else 1,
    "epochs": args.epochs,
    "patience": args.patience,
    "config": dataclasses.asdict(config),
    "seeds": list(range(args.seeds)),
    "baseline_test_acc": [],
    "baseline_test_acc_by_backbone": {n: [] for n in single_names},
    **{k: [] for k in ("test_acc", "test_acc_original", "val_acc", "best_epoch")},
    "seconds_per_epoch": [],
    "final_share_sender": [],
  }
  for seed in range(args.seeds):
    data = random_split(base, seed) if args.split == "random" else base
    if args.shard:
      data = shard_node_data(data)
    if not args.no_baseline:
      for name in single_names:
        res = single_run(data, name, seed, train_config, args.progress)
        out["baseline_test_acc_by_backbone"][name].append(res["test_acc"][0])
      out["baseline_test_acc"].append(out["baseline_test_acc_by_backbone"][names[0]][-1])
    if args.variant == TEACHER_KD:
      res = teacher_kd_run(
        data, names[0], seed, train_config, mu=config.mu, temperature=config.temperature,
        teacher_config=teacher_config,
      )  # fmt: skip
      res["test_acc_original"] = res["test_acc"]
      res["seconds_per_epoch"], res["final_share_sender"] = float("nan"), []
    else:
      res = freekd_run(data, names, config, seed, train_config, args.progress)
    for key in ("test_acc", "test_acc_original", "val_acc", "best_epoch"):
      out[key].append(res[key])
    out["seconds_per_epoch"].append(res["seconds_per_epoch"])
    out["final_share_sender"].append(res["final_share_sender"])
  out["summary"] = summary = _summary(out, len(names))
  line = ", ".join(
    f"{n}#{i}: {s['mean']:.4f}±{s['std']:.4f}"
    for i, (n, s) in enumerate(zip(names, summary["test_acc_per_gnn"], strict=True))
  )
  print(f"{args.variant} on {out['dataset']} ({args.seeds} seeds) test acc: {line}")
  if "baseline_test_acc" in summary:
    b = summary["baseline_test_acc"]
    print(f"single {names[0]}: {b['mean']:.4f}±{b['std']:.4f}")
  if args.json:
    pathlib.Path(args.json).write_text(json.dumps(out, indent=2))
  return 0
