"""One results format for every benchmark: a runs file and markdown tables made from it.

A runs file (``benchmarks/results/<package>/<name>_runs.jsonl``) holds one JSON object per
finished run::

  {"method": ..., "seed": ..., "settings": {...}, "metrics": {...},
   "machine": "<one line>", "command": "<the command that produced it>", ...}

Runs done in separate processes or on separate machines are merged by concatenating their
files (:func:`read_runs` accepts several and refuses duplicates); tables are rendered from the
runs, never typed in.
"""

from __future__ import annotations

import collections
import json
import pathlib
import shlex
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from fira_jax.lab.machine import describe_machine
from fira_jax.lab.metrics import to_jsonable

__all__ = [
  "REQUIRED",
  "make_record",
  "append_run",
  "write_runs",
  "read_runs",
  "field",
  "group_runs",
  "markdown_table",
  "command_line",
]

REQUIRED = ("method", "seed", "settings", "metrics", "machine", "command")


def command_line(argv: Sequence[str] | None = None, *, prog: str | None = None) -> str:
  """The shell-quoted command of this process (``prog`` replaces the script path)."""
  argv = list(sys.argv if argv is None else argv)
  if prog is not None and argv:
    argv[0] = prog
  return shlex.join(argv)


def make_record(
  method: str,
  seed: int,
  settings: dict,
  metrics: dict,
  *,
  command: str | None = None,
  machine: str | None = None,
  **extra: Any,
) -> dict:
  """One run as a JSON-able dict (machine and command filled in from this process if omitted)."""
  if not isinstance(method, str) or not method:
    raise ValueError(f"method must be a non-empty string, got {method!r}")
  record = {
    "method": method,
    "seed": int(seed),
    "settings": settings,
    "metrics": metrics,
    "machine": machine if machine is not None else describe_machine(),
    "command": command if command is not None else command_line(),
    **extra,
  }
  return to_jsonable(record)


def append_run(path: str | pathlib.Path, record: dict) -> None:
  """Appends one run as one line (the file and its folder are created if needed)."""
  missing = [k for k in REQUIRED if k not in record]
  if missing:
    raise ValueError(f"a run record needs {list(REQUIRED)}; missing {missing}")
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  with path.open("a", encoding="utf-8") as f:
    f.write(json.dumps(to_jsonable(record)) + "\n")
    f.flush()


def write_runs(path: str | pathlib.Path, records: Iterable[dict]) -> None:
  """Writes ``records`` as a new runs file (replacing it atomically)."""
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_suffix(path.suffix + ".tmp")
  tmp.write_text("".join(json.dumps(to_jsonable(r)) + "\n" for r in records), encoding="utf-8")
  tmp.replace(path)


def field(run: dict, name: str, default: Any = KeyError) -> Any:
  """A run's value at a dotted path, e.g. ``"settings.dataset"`` or ``"metrics.test_acc"``."""
  value: Any = run
  for part in name.split("."):
    if isinstance(value, dict) and part in value:
      value = value[part]
    elif default is KeyError:
      raise KeyError(f"run has no field {name!r}")
    else:
      return default
  return value


def read_runs(
  *paths: str | pathlib.Path,
  key: Sequence[str] = ("method", "seed"),
  duplicates: str = "error",
) -> list[dict]:
  """Reads and merges runs files.

  Args:
    *paths: runs files (JSON lines).
    key: dotted fields that identify a run (e.g. ``("settings.dataset", "method", "seed")``).
    duplicates: ``"error"`` (two runs with one key: a clear error), ``"last"`` (the later file
      wins) or ``"keep"``.

  Returns:
    The runs, in file order.
  """
  if duplicates not in ("error", "last", "keep"):
    raise ValueError(f"duplicates must be 'error', 'last' or 'keep', got {duplicates!r}")
  runs: list[dict] = []
  where: dict[tuple, str] = {}
  for path in paths:
    path = pathlib.Path(path)
    if not path.is_file():
      raise FileNotFoundError(f"no runs file at {path}")
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
      if not line.strip():
        continue
      try:
        run = json.loads(line)
      except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{i} is not JSON ({e})") from None
      missing = [k for k in REQUIRED if not isinstance(run, dict) or k not in run]
      if missing:
        raise ValueError(f"{path}:{i} is not a run record (missing {missing})")
      k = tuple(json.dumps(field(run, name, None)) for name in key)
      if k in where and duplicates == "error":
        raise ValueError(
          f"{path}:{i} repeats the run {dict(zip(key, k, strict=True))} of {where[k]}"
        )
      if k in where and duplicates == "last":
        runs = [r for r in runs if tuple(json.dumps(field(r, n, None)) for n in key) != k]
      where[k] = f"{path}:{i}"
      runs.append(run)
  return runs


def group_runs(
  runs: Iterable[dict], keys: Sequence[str] | Callable[[dict], Any]
) -> dict[Any, list[dict]]:
  """Runs grouped by the tuple of dotted ``keys`` (or a function of the run), in first-seen
  order."""
  groups: dict[Any, list[dict]] = collections.defaultdict(list)
  for run in runs:
    k = keys(run) if callable(keys) else tuple(field(run, name, None) for name in keys)
    groups[k].append(run)
  return dict(groups)


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
  """A GitHub markdown table (cells converted with ``str``)."""
  header = list(header)
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  for row in rows:
    row = list(row)
    if len(row) != len(header):
      raise ValueError(f"row {row} has {len(row)} cells, the header {len(header)}")
    lines.append("| " + " | ".join(str(c) for c in row) + " |")
  return "\n".join(lines)
