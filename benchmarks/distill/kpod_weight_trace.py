"""KPOD's token weighting module alone: the keep probabilities per token kind along training.

Runs the module's training exactly as ``fira-jax distill kpod`` does (``KPODConfig``, any of its
flags) for each seed, without training the students, and prints the mean keep probability of
digits (and of the final result's digits, the number the answer repeats), of ``+ - *``, of
``=`` and of the other tokens (filler) every ``--trace-every`` steps, as a Markdown table;
``--out`` appends one JSON line per seed (settings, trace, final statistics per kind).

Run (from the repository root):
  PYTHONPATH=. python benchmarks/distill/kpod_weight_trace.py --seeds 0 --trace-every 100
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

from distill.kpod import TRACE_KINDS, KPODConfig, prepare
from fira_jax.lab.config_flags import add_dataclass_flags, from_args
from fira_jax.lab.results import markdown_table


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--seeds", type=int, nargs="+", default=[0])
  parser.add_argument("--out", type=pathlib.Path, default=None, help="JSONL to append to")
  parser.add_argument("--label", default="", help="a name for this setting in --out")
  add_dataclass_flags(parser, KPODConfig, exclude=("problems",))
  args = parser.parse_args(argv)
  cfg = from_args(KPODConfig, args)
  for seed in args.seeds:
    t0 = time.perf_counter()
    prep = prepare(cfg, seed, progress=False)
    rows = [
      [t["step"], *(f"{t.get(k, float('nan')):.3f}" for k in TRACE_KINDS)]
      for t in prep.weight_trace
    ]
    print(f"seed {seed} ({time.perf_counter() - t0:.0f} s)")
    print(markdown_table(["step", *TRACE_KINDS], rows), flush=True)
    if args.out:
      record = {
        "label": args.label,
        "seed": seed,
        "settings": cfg.to_dict(),
        "trace": prep.weight_trace,
        "weight_stats": prep.weight_stats,
        "seconds": time.perf_counter() - t0,
      }
      with args.out.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
  return 0


if __name__ == "__main__":
  sys.exit(main())
