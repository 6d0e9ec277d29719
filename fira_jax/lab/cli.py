"""The ``fira-jax`` command tree.

Top-level commands (``train``, ``plot``) and one group per package (``fira-jax graphs freekd``,
``fira-jax distill kpod``, …). Each package lists its commands in a small table,
``<package>.commands.COMMANDS = {name: (module, one-line help)}``; a command's module exposes
``add_arguments(parser: argparse.ArgumentParser) -> None`` and
``run(args: argparse.Namespace) -> int``. Only the chosen command's module is imported. Errors a
user can fix (a bad argument, a missing file) are raised as ``ValueError``/``FileNotFoundError``
and printed as one line.

This module imports no method package: groups are named by module path and loaded on use.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence

# name -> (module, one-line help): commands at the top of the tree.
COMMANDS: dict[str, tuple[str, str]] = {
  "train": (
    "fira_jax.train.cli",
    "pre-train a LLaMA model with fira, galore, apollo, lora or adamw",
  ),
  "plot": ("fira_jax.lab.plot", "draw the curves of one or several runs' metrics to a PNG"),
}
# group -> (module with a COMMANDS table, one-line help). Add a package by adding a line.
GROUPS: dict[str, tuple[str, str]] = {
  "fira": ("fira_jax.commands", "optimizer experiments: train, compare"),
  "graphs": ("graphs.commands", "graph methods on jraph: freekd, otgnet, adadygnn"),
  "distill": ("distill.commands", "distillation methods: kpod, plankd"),
  "hypernet": ("hypernet.commands", "hypernetworks: pudnet"),
  "avprobe": ("avprobe.commands", "audio-perception probe: run, export"),
}
# Old names kept for one minor release: old -> (group, command).
DEPRECATED: dict[str, tuple[str, str]] = {
  "compare": ("fira", "compare"),
  "freekd": ("graphs", "freekd"),
  "kpod-compare": ("distill", "kpod"),
}


def _group_commands(group: str) -> dict[str, tuple[str, str]]:
  module_name, _ = GROUPS[group]
  return dict(importlib.import_module(module_name).COMMANDS)


def _add_command(sub, name: str, module_name: str, help_text: str, *, load: bool):
  sp = sub.add_parser(name, help=help_text, description=help_text)
  if load:
    module = importlib.import_module(module_name)
    module.add_arguments(sp)
    sp.set_defaults(_run=module.run)
  return sp


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
  """The parser, with the arguments of the command that ``argv`` names loaded (only that one's
  module is imported; with an empty ``argv`` every command's module is)."""
  argv = list(argv)
  want_all = not argv
  first = argv[0] if argv else None
  second = argv[1] if len(argv) > 1 else None
  parser = argparse.ArgumentParser(
    prog="fira-jax", description="Fira-jax experiments: pre-training and every method package."
  )
  sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
  for name, (module_name, help_text) in COMMANDS.items():
    _add_command(sub, name, module_name, help_text, load=want_all or first == name)
  for group, (_, help_text) in GROUPS.items():
    gp = sub.add_parser(group, help=help_text, description=help_text)
    if not (want_all or first == group):
      continue
    gsub = gp.add_subparsers(dest="subcommand", required=True, metavar="COMMAND")
    for name, (module_name, sub_help) in _group_commands(group).items():
      _add_command(gsub, name, module_name, sub_help, load=want_all or second == name)
  for old, (group, name) in DEPRECATED.items():
    if first != old and not want_all:
      continue  # hidden from the help; parsed only when named
    module_name, _ = _group_commands(group)[name]
    new = f"fira-jax {group} {name}"
    sp = _add_command(sub, old, module_name, f"deprecated: use `{new}`", load=True)
    sp.set_defaults(_deprecated=new)
  return parser


def main(argv: Sequence[str] | None = None) -> int:
  """Entry point: parses ``argv`` and runs the chosen command."""
  argv = list(sys.argv[1:] if argv is None else argv)
  parser = build_parser(argv or ["--help"])
  args = parser.parse_args(argv)
  name = " ".join(filter(None, (args.command, getattr(args, "subcommand", None))))
  new = getattr(args, "_deprecated", None)
  if new:
    msg = f"`fira-jax {args.command}` is deprecated and will be removed in 0.3; use `{new}`"
    warnings.warn(msg, DeprecationWarning, stacklevel=2)
    print(f"fira-jax: warning: {msg}", file=sys.stderr)
  try:
    return int(args._run(args) or 0)
  except (ValueError, FileNotFoundError) as e:
    print(f"fira-jax {name}: error: {e}", file=sys.stderr)
    return 2


if __name__ == "__main__":
  sys.exit(main())
