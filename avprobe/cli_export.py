"""``fira-jax avprobe export``: write the probe items as 16-bit WAVs plus ``manifest.jsonl``.

Each manifest line holds ``item_id``, ``task``, ``question``, ``prompt``, ``options``,
``answer``, ``sr``, ``audio_files`` (relative to the folder) and ``meta``, so any model runner
can read it. Example::

  fira-jax avprobe export --out deaftest_items --n 20 --sr 16000
"""

from __future__ import annotations

import argparse

from avprobe._items import export_items
from avprobe.cli import add_item_arguments, items_from_args

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
  """Flags of ``fira-jax avprobe export``."""
  parser.add_argument("--out", required=True, help="output folder")
  add_item_arguments(parser)


def run(args: argparse.Namespace) -> int:
  """Writes the items and prints the manifest's path."""
  items = items_from_args(args)
  manifest = export_items(items, args.out, progress=not args.no_progress)
  print(f"wrote {len(items)} items to {manifest}")
  return 0
