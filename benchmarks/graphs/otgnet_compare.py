"""OTGNet vs its baselines and ablations on OTG-Synth (two knob settings), Cora and Citeseer.

Every finished run is appended as one line to ``--runs`` (the :mod:`fira_jax.lab.results`
format; resumable: runs already there are skipped), and ``--report`` renders
``benchmarks/results/graphs/otgnet.md`` from the runs. Seeds are the outer loop, so a grid cut
short still has every method on the first seeds::

  PYTHONPATH=. nice -n 10 python benchmarks/graphs/otgnet_compare.py \\
      --datasets synth,cora,synth_cross,citeseer --seeds 5 --epochs 5
  PYTHONPATH=. python benchmarks/graphs/otgnet_compare.py --report

Several processes may write their own runs files; pass them all to ``--report``
(``--runs a.jsonl --runs b.jsonl``); a run present twice is an error.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import sys
import time

from fira_jax.lab import results
from graphs.otgnet import (
  METHODS,
  OTGNetConfig,
  make_synth,
  method_config,
  planetoid_stream,
  train_otgnet,
)

HERE = pathlib.Path(__file__).resolve().parent
RESULTS = HERE.parent / "results" / "graphs"
RUNS = RESULTS / "otgnet_runs.jsonl"
REPORT = RESULTS / "otgnet.md"
DATA_DIR = HERE.parents[1] / ".." / "shared" / "data" / "planetoid"
KEY = ("settings.dataset", "method", "seed")
# synth_cross: cross-class messages dominate (few same-class edges, many to old classes)
SYNTH = {"synth": {}, "synth_cross": {"p_homo": 0.2, "p_old": 0.8}}
ORDER = tuple(METHODS)


def load(dataset: str, seed: int, data_dir):
  """The dataset of one seed (OTG-Synth is generated with the seed; Planetoid arrival order
  too)."""
  if dataset in SYNTH:
    return make_synth(seed, **SYNTH[dataset])
  return planetoid_stream(dataset, data_dir, seed)


def run(args: argparse.Namespace) -> None:
  """Runs every (dataset, seed, method) not yet in ``--runs`` and appends it."""
  path = pathlib.Path(args.runs[0])
  done = set()
  if path.exists():
    done = {tuple(results.field(r, k) for k in KEY) for r in results.read_runs(path, key=KEY)}
  base = OTGNetConfig(memory_dim=args.memory_dim, hidden_dim=args.hidden_dim)
  for dataset in args.datasets.split(","):
    for seed in range(args.seeds):
      data = load(dataset, seed, args.data_dir)
      for method in args.methods.split(","):
        if (dataset, method, seed) in done:
          continue
        config = method_config(method, base)
        t0 = time.perf_counter()
        res = train_otgnet(data, config, seed=seed, epochs=args.epochs)
        metrics = {**res, "wall_s": time.perf_counter() - t0}
        settings = {
          "dataset": dataset,
          "epochs": args.epochs,
          "data_sha256": data.sha256,
          "synth_knobs": SYNTH.get(dataset),
          "config": dataclasses.asdict(config),
        }
        record = results.make_record(method, seed, settings, metrics, command=args.command)
        results.append_run(path, record)
        print(
          f"{dataset} {method} seed {seed}: AP {100 * res['ap']:.2f} AF {100 * res['af']:.2f} "
          f"({metrics['wall_s']:.0f} s)",
          flush=True,
        )


def report(args: argparse.Namespace) -> None:
  """Renders the markdown report from the runs files."""
  raise NotImplementedError


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--datasets", default="synth,cora,synth_cross,citeseer")
  p.add_argument("--methods", default=",".join(ORDER))
  p.add_argument("--seeds", type=int, default=5)
  p.add_argument("--epochs", type=int, default=5)
  p.add_argument("--memory-dim", type=int, default=100)
  p.add_argument("--hidden-dim", type=int, default=128)
  p.add_argument("--data-dir", default=str(DATA_DIR))
  p.add_argument("--runs", action="append", default=None)
  p.add_argument("--report", action="store_true")
  args = p.parse_args(argv)
  args.runs = args.runs or [str(RUNS)]
  args.command = results.command_line()
  if args.report:
    report(args)
  else:
    run(args)
  return 0


if __name__ == "__main__":
  sys.exit(main())
