"""Single GNN vs FreeKD vs FreeKD-Prompt vs FreeKD++ (and ablations) on Cora / Citeseer.

Every finished run is appended as one JSON line to ``--runs`` (resumable: runs already there
are skipped; each line records the JAX platform it ran on), and ``--report`` turns that file into
the markdown tables of ``benchmarks/results/freekd.md`` (seconds per epoch from CPU runs where a
cell has any, else marked with the platform). Runs are ordered as given, so put the most
important first::

  PYTHONPATH=. nice python benchmarks/freekd_compare.py --datasets cora --backbones gcn \\
      --methods single,freekd,random_direction,no_structure --seeds 10 --split public
  PYTHONPATH=. python benchmarks/freekd_compare.py --report
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import platform
import subprocess
import time

import jax
import numpy as np

from graphs import (
  FreeKDConfig,
  TrainConfig,
  load_planetoid,
  random_split,
  train_freekd,
  train_node_classifier,
)

RUNS = pathlib.Path(__file__).parent / "results" / "freekd_runs.jsonl"
METHODS = {  # name -> (number of GNNs, FreeKDConfig overrides); "single" is one GNN alone
  "single": (1, {}),
  "freekd": (2, {}),
  "random_direction": (2, {"direction": "random", "structure": "all"}),
  "no_structure": (2, {"structure": "none", "rho": 0.0}),
  "mutual": (2, {"direction": "mutual", "structure": "all"}),
  "local_reward": (2, {"reward": "local"}),
  "prompt": (2, {"prompt": "shared"}),
  "prompt_clip0.01": (2, {"prompt": "shared", "prompt_clip": 0.01}),
  "plusplus": (3, {"feature_mask_rate": 0.1, "edge_drop_rate": 0.1}),
}
# Paper numbers (percent) as extracted in the spec (section 9, tag [R]); their split is most
# likely 60/20/20 random splits, not the public one.
PAPER = {
  "cora": {"gcn": 85.12, "gat": 85.45, "sage": 85.36, "freekd": 86.84, "prompt": 87.44},
  "citeseer": {"gcn": 75.42, "gat": 75.66, "sage": 76.56, "freekd": 77.78, "prompt": 78.68},
}


def _key(rec):
  return (rec["dataset"], rec["split"], rec["backbone"], rec["method"], rec["seed"])


def _platform() -> str:
  dev = jax.devices()[0]
  return "cpu" if dev.platform == "cpu" else f"{dev.platform} ({dev.device_kind})"


def run(args):
  runs = pathlib.Path(args.runs)
  done = set()
  if runs.exists():
    done = {_key(json.loads(line)) for line in runs.read_text().splitlines() if line}
  train_config = TrainConfig(epochs=args.epochs, patience=args.patience)
  for dataset in args.datasets.split(","):
    base = load_planetoid(dataset, args.data_dir)
    for backbone in args.backbones.split(","):
      for seed in range(args.seeds):
        data = random_split(base, seed) if args.split == "random" else base
        for method in args.methods.split(","):
          rec = {
            "dataset": dataset,
            "split": args.split,
            "backbone": backbone,
            "method": method,
            "seed": seed,
          }
          if _key(rec) in done:
            continue
          k, overrides = METHODS[method]
          start = time.perf_counter()
          if k == 1:
            res = train_node_classifier(data, backbone, seed=seed, train_config=train_config)
            rec.update(
              test_acc=[res.test_acc],
              epochs=len(res.history["val_acc"]),
              seconds_per_epoch=(time.perf_counter() - start) / len(res.history["val_acc"]),
            )
          else:
            cfg = FreeKDConfig(**overrides)
            res = train_freekd(
              data,
              [backbone] * k,
              config=cfg,
              train_config=train_config,
              seed=seed,
              progress=args.progress,
            )
            rec.update(
              test_acc=res.test_acc,
              test_acc_original=res.test_acc_original,
              epochs=len(res.history["loss"]),
              seconds_per_epoch=float(np.median(res.history["seconds"][1:])),
              final_share_sender=res.history["share_sender"][-1].tolist(),
              config=dataclasses.asdict(cfg),
            )
          rec["wall_s"] = time.perf_counter() - start
          rec["platform"] = _platform()
          with runs.open("a") as f:
            f.write(json.dumps(rec) + "\n")
          print(
            json.dumps(
              {k: rec[k] for k in ("dataset", "backbone", "method", "seed", "test_acc", "wall_s")}
            ),
            flush=True,
          )


def report(args):
  recs = [json.loads(line) for line in pathlib.Path(args.runs).read_text().splitlines() if line]
  groups: dict = {}
  for r in recs:
    groups.setdefault((r["dataset"], r["split"], r["backbone"], r["method"]), []).append(r)
  lines = []
  for split in ("public", "random"):
    keys = sorted(k for k in groups if k[1] == split)
    if not keys:
      continue
    lines += [
      f"### {split} split",
      "",
      "| dataset | backbone | method | seeds | test acc % (mean ± std, per GNN) | "
      "mean over GNNs % | paired Δ vs single (pts) | s/epoch | paper % |",
      "|---|---|---|---|---|---|---|---|---|",
    ]
    for ds, _, bb, method in keys:
      rs = sorted(groups[(ds, split, bb, method)], key=lambda r: r["seed"])
      acc = np.array([r["test_acc"] for r in rs]) * 100
      per = ", ".join(f"{m:.2f} ± {s:.2f}" for m, s in zip(acc.mean(0), acc.std(0), strict=True))
      single = {
        r["seed"]: r["test_acc"][0] * 100 for r in groups.get((ds, split, bb, "single"), [])
      }
      paired = [acc[i].mean() - single[r["seed"]] for i, r in enumerate(rs) if r["seed"] in single]
      delta = (
        f"{np.mean(paired):+.2f} ± {np.std(paired):.2f}" if method != "single" and paired else "–"
      )
      on_cpu = [r["seconds_per_epoch"] for r in rs if r.get("platform", "cpu") == "cpu"]
      spe = (
        f"{np.median(on_cpu):.3f}"
        if on_cpu
        else f"{np.median([r['seconds_per_epoch'] for r in rs]):.3f} ({rs[0]['platform']})"
      )
      paper = PAPER.get(ds, {}).get(bb if method == "single" else method, None)
      paper_s = (
        f"{paper:.2f}" if paper is not None and method in ("single", "freekd", "prompt") else "–"
      )
      lines.append(
        f"| {ds} | {bb} | {method} | {len(rs)} | {per} | {acc.mean(1).mean():.2f} ± "
        f"{acc.mean(1).std():.2f} | {delta} | {spe} | {paper_s} |"
      )
    lines.append("")
  print("\n".join(lines))


def machine() -> str:
  cpu = next(
    (
      line.split(":", 1)[1].strip()
      for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines()
      if line.startswith("model name")
    ),
    platform.processor(),
  )
  import flax
  import optax

  git = ["git", "rev-parse", "--short", "HEAD"]
  rev = subprocess.run(git, capture_output=True, text=True).stdout.strip()
  return (
    f"nproc={os.cpu_count()}, CPU: {cpu}, no GPU; Python {platform.python_version()}, "
    f"jax {jax.__version__}, flax {flax.__version__}, optax {optax.__version__}; "
    f"git {rev}"
  )


if __name__ == "__main__":
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument(
    "--data-dir",
    default=os.environ.get(
      "FIRA_JAX_DATA_DIR", str(pathlib.Path(__file__).resolve().parents[2] / "shared" / "data")
    )
    + "/planetoid",
  )
  p.add_argument("--runs", default=str(RUNS), help="JSON-lines file of finished runs")
  p.add_argument("--datasets", default="cora,citeseer")
  p.add_argument("--backbones", default="gcn,gat,sage")
  p.add_argument("--methods", default=",".join(METHODS))
  p.add_argument("--seeds", type=int, default=10)
  p.add_argument("--split", default="public", choices=("public", "random"))
  p.add_argument("--epochs", type=int, default=200)
  p.add_argument("--patience", type=int, default=100)
  p.add_argument("--progress", action="store_true")
  p.add_argument("--report", action="store_true", help="print the tables from the runs file")
  p.add_argument("--machine", action="store_true", help="print the machine line")
  a = p.parse_args()
  if a.machine:
    print(machine())
  elif a.report:
    report(a)
  else:
    run(a)
