"""Metrics files (JSON lines, one object per record) and the progress bar of every long loop."""

from __future__ import annotations

import json
import math
import numbers
import pathlib
from typing import Any

import numpy as np
from tqdm.auto import tqdm

__all__ = ["MetricsLog", "read_metrics", "progress_bar", "perplexity", "to_jsonable"]


def to_jsonable(value: Any) -> Any:
  """``value`` with NumPy/JAX scalars and arrays turned into Python numbers and lists.

  Non-finite floats stay floats (``json`` writes them as ``NaN``/``Infinity``).
  """
  if isinstance(value, (str, bool)) or value is None:
    return value
  if isinstance(value, dict):
    return {str(k): to_jsonable(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [to_jsonable(v) for v in value]
  if isinstance(value, numbers.Integral):
    return int(value)
  if isinstance(value, numbers.Real):
    return float(value)
  arr = np.asarray(value)
  if arr.dtype == bool:
    return arr.tolist()
  if arr.ndim == 0:
    return int(arr) if np.issubdtype(arr.dtype, np.integer) else float(arr)
  return arr.tolist()


class MetricsLog:
  """Appends records to ``<run_dir>/<filename>`` (default ``metrics.jsonl``).

  Args:
    run_dir: the run folder (created if needed).
    resume_step: on resume, records with ``step`` after this one (written by a killed run after
      its last checkpoint) are dropped first, so the file equals that of an uninterrupted run.
    filename: the file's name inside ``run_dir``.
    append: keep existing records (e.g. several methods of one comparison in one file);
      otherwise a fresh log empties the file.
  """

  def __init__(
    self,
    run_dir: str | pathlib.Path,
    *,
    resume_step: int | None = None,
    filename: str = "metrics.jsonl",
    append: bool = False,
  ):
    self.path = pathlib.Path(run_dir) / filename
    self.path.parent.mkdir(parents=True, exist_ok=True)
    if resume_step is not None:
      if self.path.exists():
        keep = [r for r in read_metrics(self.path) if r.get("step", 0) <= resume_step]
        self.path.write_text("".join(json.dumps(r) + "\n" for r in keep))
    elif not append or not self.path.exists():
      self.path.write_text("")

  @classmethod
  def at(cls, path: str | pathlib.Path, *, append: bool = False) -> MetricsLog:
    """A log writing to the file ``path`` itself."""
    path = pathlib.Path(path)
    return cls(path.parent, filename=path.name, append=append)

  def write(self, record: dict) -> None:
    """Appends ``record`` as one JSON line (arrays and scalars converted)."""
    with self.path.open("a") as f:
      f.write(json.dumps(to_jsonable(record)) + "\n")


def read_metrics(path: str | pathlib.Path) -> list[dict]:
  """Reads a metrics file (or the ``metrics.jsonl`` inside a run folder)."""
  path = pathlib.Path(path)
  if path.is_dir():
    path = path / "metrics.jsonl"
  if not path.is_file():
    raise FileNotFoundError(f"no metrics file at {path}")
  return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def progress_bar(
  total: int, initial: int = 0, desc: str = "", disable: bool = False, unit: str = "step"
) -> tqdm:
  """A tqdm bar over a loop's steps (tqdm shows the ETA; losses go in the postfix)."""
  return tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=disable, leave=True)


def perplexity(loss: float) -> float:
  """``exp(loss)``, capped at ``exp(50)``."""
  return math.exp(min(loss, 50.0))
