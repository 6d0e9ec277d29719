"""Exact-match evaluation of generated rationales' final answers, and a check of the
arithmetic of their steps (``a + b = c``)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from distill.kpod._math_data import format_number

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_EQUATION = re.compile(r"(-?\d+(?:\.\d+)?) ?([-+*/]) ?(-?\d+(?:\.\d+)?) ?= ?(-?\d+(?:\.\d+)?)")


def extract_answer(text: str) -> str | None:
  """The final answer of a generated rationale, normalised (``None`` when there is none).

  The number after the last ``####`` when present, else the last number of the text.
  """
  if "####" in text:
    found = _NUMBER.search(text.rsplit("####", 1)[1].replace(" ", ""))
    candidate = found.group(0) if found else None
  else:
    matches = _NUMBER.findall(text)
    candidate = matches[-1] if matches else None
  if candidate is None:
    return None
  try:
    return format_number(candidate)
  except ValueError:
    return None


def exact_match(predictions: Sequence[str], references: Sequence[str]) -> np.ndarray:
  """Per-example exact match of extracted answers against reference answers.

  Args:
    predictions: generated texts (rationale and answer).
    references: reference answers (numbers as text).

  Returns:
    Boolean array ``(N,)``; its mean is the exact-match accuracy.
  """
  if len(predictions) != len(references):
    raise ValueError(
      f"predictions and references must have the same length, got {len(predictions)} "
      f"and {len(references)}"
    )
  return np.array(
    [extract_answer(p) == format_number(r) for p, r in zip(predictions, references, strict=True)],
    dtype=bool,
  )


def equation_errors(text: str) -> tuple[int, int]:
  """Checks the arithmetic of every ``a op b = c`` in ``text`` (``op`` one of ``+ - * /``).

  Used both on reference rationales (every one must be right) and on a student's generations,
  where a wrong step (``41 + 7 = 42``) is the student's error, not the data's.

  Returns:
    ``(wrong, total)``: equations whose result differs from ``a op b`` (beyond 1e-6
    relative), and all equations found.

  Raises:
    TypeError: ``text`` is not a string.
  """
  if not isinstance(text, str):
    raise TypeError(f"equation_errors: text must be a str, got {type(text).__name__}")
  wrong = total = 0
  for a, op, b, c in _EQUATION.findall(text):
    x, y, z = float(a), float(b), float(c)
    value = {"+": x + y, "-": x - y, "*": x * y, "/": x / y if y else float("nan")}[op]
    total += 1
    wrong += not abs(value - z) <= 1e-6 * max(1.0, abs(value))
  return wrong, total
