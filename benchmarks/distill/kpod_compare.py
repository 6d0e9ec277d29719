"""KPOD end to end: answer-only vs CoT distillation vs token weighting vs progressive vs KPOD.

A small LLaMA (``fira_jax.models.Llama``) is trained from scratch on generated multi-step
arithmetic word problems with each method at the same budget (epochs, batch, optimizer), over
several seeds, and evaluated by greedy decoding + exact match in distribution and on longer
chains. Writes ``benchmarks/results/distill/kpod.md``, its runs file ``kpod_runs.jsonl`` and the
per-epoch metrics ``kpod_metrics.jsonl`` beside it. The same command is
``fira-jax distill kpod``; the options are the same.

Run (from the repository root):
  PYTHONPATH=. python benchmarks/distill/kpod_compare.py --seeds 0 1 2 --epochs 16 --alpha 0.05
Re-render the report from the committed runs (no training):
  PYTHONPATH=. python benchmarks/distill/kpod_compare.py \
    --merge benchmarks/results/distill/kpod_runs.jsonl
"""

from __future__ import annotations

import argparse
import pathlib
import shlex
import sys

from distill.kpod import cli

RESULTS = pathlib.Path("benchmarks/results/distill")


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  cli.add_arguments(parser)
  parser.set_defaults(out=RESULTS / "kpod.md")
  args = parser.parse_args(argv)
  argv = sys.argv[1:] if argv is None else argv
  args.command_line = "PYTHONPATH=. python benchmarks/distill/kpod_compare.py " + shlex.join(argv)
  return cli.run(args)


if __name__ == "__main__":
  sys.exit(main())
