"""``fira-jax freekd``: train FreeKD / FreeKD-Prompt / FreeKD++ on Planetoid and write JSON.

Example::

  fira-jax freekd --dataset cora --data-dir ../shared/data/planetoid --backbone gcn \\
      --variant freekd --num-gnns 2 --seeds 10 --json results.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib

import jax
import numpy as np

from graphs._freekd import FreeKDConfig, train_freekd
from graphs._planetoid import DATASETS, load_planetoid, random_split
from graphs._sharding import shard_node_data
from graphs._train import TrainConfig, train_node_classifier

VARIANTS = ("freekd", "prompt", "plusplus")


def add_arguments(parser: argparse.ArgumentParser) -> None:
  """Registers the ``freekd`` options."""
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
  parser.add_argument("--variant", default="freekd", choices=VARIANTS)
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
  parser.add_argument("--json", default=None, help="write results to this JSON file")
  parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
  for field in dataclasses.fields(FreeKDConfig):
    if field.name in ("prompt",):
      continue
    flag = "--" + field.name.replace("_", "-")
    kind = type(field.default) if field.default is not None else str
    if kind is bool:
      parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
    else:
      parser.add_argument(flag, type=kind, default=None, help=f"(default {field.default})")
  parser.add_argument(
    "--prompt",
    default=None,
    choices=("shared", "nodewise"),
    help="prompt kind for --variant prompt (default shared)",
  )


def _config(args: argparse.Namespace) -> FreeKDConfig:
  overrides = {
    f.name: getattr(args, f.name)
    for f in dataclasses.fields(FreeKDConfig)
    if f.name != "prompt" and getattr(args, f.name) is not None
  }
  if args.variant == "prompt":
    overrides["prompt"] = args.prompt or "shared"
  if args.variant == "plusplus":
    overrides.setdefault("feature_mask_rate", 0.1)
    overrides.setdefault("edge_drop_rate", 0.1)
  return FreeKDConfig(**overrides)


def _stats(values) -> dict[str, float]:
  arr = np.asarray(values, dtype=np.float64)
  return {"mean": float(arr.mean()), "std": float(arr.std())}


def run(args: argparse.Namespace) -> int:
  """Runs the seeds, prints a summary and writes the JSON file."""
  k = args.num_gnns if args.num_gnns is not None else (3 if args.variant == "plusplus" else 2)
  if k < 2:
    raise ValueError(f"--num-gnns must be >= 2 (FreeKD exchanges between K >= 2 GNNs), got {k}")
  if args.seeds < 1:
    raise ValueError(f"--seeds must be >= 1, got {args.seeds}")
  if args.data_dir is None:
    raise ValueError("--data-dir is required (or set FIRA_JAX_DATA_DIR)")
  names = [b.strip() for b in args.backbone.split(",")]
  if len(names) == 1:
    names = names * k
  if len(names) != k:
    raise ValueError(f"--backbone needs 1 or {k} comma-separated names, got {args.backbone!r}")
  config = _config(args)
  train_config = TrainConfig(epochs=args.epochs, patience=args.patience)
  base = load_planetoid(args.dataset, args.data_dir, download=args.download)
  out: dict = {
    "dataset": args.dataset.lower(),
    "variant": args.variant,
    "backbones": names,
    "num_gnns": k,
    "split": args.split,
    "devices": jax.device_count() if args.shard else 1,
    "epochs": args.epochs,
    "patience": args.patience,
    "config": dataclasses.asdict(config),
    "seeds": list(range(args.seeds)),
    "baseline_test_acc": [],
    "baseline_test_acc_by_backbone": {n: [] for n in dict.fromkeys(names)},
    "test_acc": [],
    "test_acc_original": [],
    "val_acc": [],
    "best_epoch": [],
    "seconds_per_epoch": [],
    "final_share_sender": [],
  }
  for seed in range(args.seeds):
    data = random_split(base, seed) if args.split == "random" else base
    if args.shard:
      data = shard_node_data(data)
    if not args.no_baseline:
      for name in out["baseline_test_acc_by_backbone"]:
        res = train_node_classifier(
          data, name, seed=seed, train_config=train_config, progress=args.progress
        )
        out["baseline_test_acc_by_backbone"][name].append(res.test_acc)
      out["baseline_test_acc"].append(out["baseline_test_acc_by_backbone"][names[0]][-1])
    res = train_freekd(
      data, names, config=config, train_config=train_config, seed=seed, progress=args.progress
    )
    out["seconds_per_epoch"].append(float(np.median(res.history["seconds"][1:])))
    out["test_acc"].append(res.test_acc)
    out["test_acc_original"].append(res.test_acc_original)
    out["val_acc"].append(res.val_acc)
    out["best_epoch"].append(res.best_epoch)
    out["final_share_sender"].append(res.history["share_sender"][-1].tolist())
  out["summary"] = {
    "test_acc_per_gnn": [_stats([t[i] for t in out["test_acc"]]) for i in range(k)],
    "test_acc_mean_over_gnns": _stats([np.mean(t) for t in out["test_acc"]]),
  }
  if out["baseline_test_acc"]:
    out["summary"]["baseline_test_acc"] = _stats(out["baseline_test_acc"])
  summary = out["summary"]
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
