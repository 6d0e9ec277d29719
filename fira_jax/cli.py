"""The ``fira-jax`` console script.

Each subcommand lives in its own module, imported only when it is used, which exposes
``add_arguments(parser: argparse.ArgumentParser) -> None`` and
``run(args: argparse.Namespace) -> int``. Errors a user can fix (a bad argument, a missing
file) are raised as ``ValueError``/``FileNotFoundError`` and printed as one line.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# name -> (module, one-line help). Add a subcommand by adding a line here.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
  "compare": (
    "fira_jax._compare",
    "train a small model with adamw, galore and fira on synthetic data; print a table",
  ),
  "train": ("fira_jax.train.cli_train", "pre-train a LLaMA model with fira, galore, lora or adamw"),
  "plot": ("fira_jax.train.cli_plot", "draw the loss curves of one or several runs to a PNG"),
  "freekd": ("graphs.cli", "train FreeKD, FreeKD-Prompt or FreeKD++ GNNs on Planetoid"),
  "kpod-compare": ("distill._kpod_cli", "KPOD vs CoT distillation and ablations, generated data"),
}


def build_parser() -> argparse.ArgumentParser:
  """Builds the argument parser with every registered subcommand."""
  parser = argparse.ArgumentParser(prog="fira-jax", description=__doc__.splitlines()[0])
  sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
  for name, (module_name, help_text) in SUBCOMMANDS.items():
    module = importlib.import_module(module_name)
    sp = sub.add_parser(name, help=help_text, description=help_text)
    module.add_arguments(sp)
    sp.set_defaults(_run=module.run)
  return parser


def main(argv: Sequence[str] | None = None) -> int:
  """Entry point: parses ``argv`` and runs the chosen subcommand."""
  parser = build_parser()
  args = parser.parse_args(argv)
  try:
    return int(args._run(args) or 0)
  except (ValueError, FileNotFoundError) as e:
    print(f"fira-jax {args.command}: error: {e}", file=sys.stderr)
    return 2


if __name__ == "__main__":
  sys.exit(main())
