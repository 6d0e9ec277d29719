"""KPOD end to end: answer-only vs CoT distillation vs token weighting vs progressive vs KPOD.

A small LLaMA (``fira_jax.models.Llama``) is trained from scratch on generated multi-step
arithmetic word problems with each method at the same budget (epochs, batch, optimizer), over
several seeds, and evaluated by greedy decoding + exact match in distribution and on longer
chains. Writes ``benchmarks/results/kpod.md`` and a JSONL of per-epoch metrics. The same runs
are available as ``fira-jax kpod-compare``.

Run (from the repository root):
  PYTHONPATH=. python benchmarks/kpod_compare.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import pathlib
import shlex
import sys

from distill import _kpod_cli


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  _kpod_cli.add_arguments(parser)
  parser.set_defaults(
    out=pathlib.Path("benchmarks/results/kpod.md"),
    metrics=pathlib.Path("benchmarks/results/kpod_metrics.jsonl"),
  )
  args = parser.parse_args(argv)
  argv = sys.argv[1:] if argv is None else argv
  args.command_line = "PYTHONPATH=. python benchmarks/kpod_compare.py " + shlex.join(argv)
  return _kpod_cli.run(args)


if __name__ == "__main__":
  sys.exit(main())
