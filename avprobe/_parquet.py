"""A loader for the official DeafTest / AV-Odyssey parquet files (needs ``pyarrow``).

Columns are matched tolerantly: the question from ``question`` or ``prompt``; options from
``options`` or ``choices`` (else the two-option defaults "the first audio"/"the second audio");
the answer from ``answer`` or ``label``; clips from ``audio_1`` … ``audio_4`` or a list column
``audios``/``audio``; the task from ``task``, ``subfield``, ``question_type_id`` or the wording
of the question. Every other column goes to ``meta``.

An audio cell may be the bytes of a WAV file, a dict with ``bytes`` and/or ``path`` (the
Hugging Face ``Audio`` feature), or a path relative to the parquet file's folder. WAV is decoded
with the standard library; other formats (FLAC, MP3) need ``soundfile``. Clips keep their own
sample rate; an item's clips must share one.
"""

from __future__ import annotations

import io
import pathlib
from typing import Any

import numpy as np

from avprobe._items import TWO_AFC_OPTIONS, Item
from avprobe._models import task_of
from avprobe._wav import decode_wav

__all__ = ["load_official_deaftest"]

_QUESTION = ("question", "prompt")
_OPTIONS = ("options", "choices")
_ANSWER = ("answer", "label")
_TASK = ("task", "subfield", "question_type_id")
_ID = ("question_id", "id", "item_id")


def _first(row: dict, names: tuple[str, ...]) -> tuple[str | None, Any]:
  for name in names:
    if name in row and row[name] is not None:
      return name, row[name]
  return None, None


def _decode(data: bytes) -> tuple[np.ndarray, int]:
  if data[:4] == b"RIFF":
    return decode_wav(data)
  try:
    import soundfile
  except ImportError:
    raise ValueError("a non-WAV audio cell needs the soundfile package") from None
  x, sr = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
  return x.mean(axis=1), int(sr)


def _audio(cell: Any, root: pathlib.Path) -> tuple[np.ndarray, int] | None:
  if cell is None:
    return None
  if isinstance(cell, dict):
    if cell.get("bytes"):
      return _decode(bytes(cell["bytes"]))
    cell = cell.get("path")
    if not cell:
      return None
  if isinstance(cell, (bytes, bytearray, memoryview)):
    return _decode(bytes(cell))
  if isinstance(cell, str):
    path = root / cell
    if not path.is_file():
      raise FileNotFoundError(f"audio file {path} (named in the parquet) does not exist")
    return _decode(path.read_bytes())
  raise ValueError(f"cannot read an audio cell of type {type(cell).__name__}")


def _row_to_item(row: dict, i: int, root: pathlib.Path) -> Item:
  used = set()
  qname, question = _first(row, _QUESTION)
  if qname is None:
    raise ValueError(f"row {i} has no question column (one of {list(_QUESTION)})")
  oname, options = _first(row, _OPTIONS)
  aname, answer = _first(row, _ANSWER)
  tname, task = _first(row, _TASK)
  iname, item_id = _first(row, _ID)
  used |= {qname, oname, aname, tname, iname}
  cells = [row[k] for k in sorted(row) if k.startswith("audio_")]
  used |= {k for k in row if k.startswith("audio_")}
  for name in ("audios", "audio"):
    if name in row and row[name] is not None:
      cells += list(row[name]) if isinstance(row[name], (list, tuple)) else [row[name]]
      used.add(name)
  clips = [c for c in (_audio(cell, root) for cell in cells) if c is not None]
  if not clips:
    raise ValueError(f"row {i} has no audio (audio_1.. or an audios column)")
  srs = {sr for _, sr in clips}
  if len(srs) != 1:
    raise ValueError(f"row {i} mixes sample rates {sorted(srs)}")
  options = tuple(str(o) for o in options) if options is not None else TWO_AFC_OPTIONS
  if task is None:
    try:
      task = task_of(question)
    except ValueError:
      task = "unknown"
  answer = str(answer).strip().upper() if answer is not None else ""
  meta = {k: v for k, v in row.items() if k not in used and not isinstance(v, (bytes, dict))}
  return Item(
    str(item_id if item_id is not None else f"official-{i:04d}"),
    str(task),
    str(question),
    tuple(x for x, _ in clips),
    srs.pop(),
    options,
    answer,
    meta,
  )


def load_official_deaftest(path: str | pathlib.Path) -> list[Item]:
  """Reads an official DeafTest or AV-Odyssey parquet file into items.

  Args:
    path: the ``.parquet`` file (relative audio paths are resolved from its folder).

  Returns:
    One :class:`Item` per row (``meta`` holds the columns not otherwise used).

  Raises:
    ImportError: without pyarrow (``pip install "fira-jax[parquet]"``).
  """
  try:
    import pyarrow.parquet as pq
  except ImportError:
    raise ImportError(
      "load_official_deaftest needs pyarrow: pip install 'fira-jax[parquet]' (or pyarrow)"
    ) from None
  path = pathlib.Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"no parquet file at {path}")
  rows = pq.read_table(path).to_pylist()
  return [_row_to_item(row, i, path.parent) for i, row in enumerate(rows)]
