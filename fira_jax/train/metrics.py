"""Metrics file (``metrics.jsonl``, one JSON object per line) and the progress bar."""

from __future__ import annotations

import json
import math
import pathlib

from tqdm.auto import tqdm


class MetricsLog:
  """Appends records to ``<run>/metrics.jsonl``.

  On resume, records of steps after the restored step (written by the killed run after its
  last checkpoint) are dropped first, so the file equals that of an uninterrupted run.
  """

  def __init__(self, run_dir: str | pathlib.Path, *, resume_step: int | None = None):
    self.path = pathlib.Path(run_dir) / "metrics.jsonl"
    self.path.parent.mkdir(parents=True, exist_ok=True)
    if resume_step is None:
      self.path.write_text("")
    elif self.path.exists():
      keep = [r for r in read_metrics(self.path) if r.get("step", 0) <= resume_step]
      self.path.write_text("".join(json.dumps(r) + "\n" for r in keep))

  def write(self, record: dict) -> None:
    clean = {k: (float(v) if not isinstance(v, (int, str)) else v) for k, v in record.items()}
    with self.path.open("a") as f:
      f.write(json.dumps(clean) + "\n")


def read_metrics(path: str | pathlib.Path) -> list[dict]:
  """Reads a ``metrics.jsonl`` file (or the one inside a run folder)."""
  path = pathlib.Path(path)
  if path.is_dir():
    path = path / "metrics.jsonl"
  if not path.is_file():
    raise FileNotFoundError(f"no metrics file at {path}")
  return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def progress_bar(total: int, initial: int, desc: str, disable: bool = False) -> tqdm:
  """A tqdm bar over training steps (tqdm shows the ETA; loss and tokens/s go in postfix)."""
  return tqdm(total=total, initial=initial, desc=desc, unit="step", disable=disable, leave=True)


def perplexity(loss: float) -> float:
  return math.exp(min(loss, 50.0))
