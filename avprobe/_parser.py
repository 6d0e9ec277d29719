"""The multiple-choice answer parser of the AV-Odyssey evaluation, and a strict variant.

``mode="avodyssey"`` reproduces the official ``evaluation.py`` step by step:

1. Strip ``, . ! ? ; : '`` from both ends, one character after the other (a chain of
   single-character strips, so ``"B. "`` keeps its dot), then pad one space on each side.
2. Letter stage: every choice letter that occurs *anywhere* (case-sensitive, no brackets
   needed) is a candidate.
3. Space stage (only if none): letters with a space on each side.
4. Content stage (only if none and the response has more than 5 tokens): every option whose
   text occurs in the response, case-insensitively.
5. No candidate: ``"A"`` (the parse failure fallback).
6. Several candidates: the one whose marker occurs last: ``"(X)"`` after the letter stage,
   ``" X "`` after the space stage, the option text after the content stage; ties (e.g. every
   marker missing, index -1) go to the first candidate in letter order.

Hence "Both sound equal" → B, "Audio B" → A, "Answer: B." → A, and "the first audio" → A only by
the fallback. ``mode="strict"`` runs the same stages but returns ``None`` at step 5 and for a
tie of missing markers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["MODES", "Parsed", "ParseBatch", "parse_detail", "parse_answer", "parse_answers"]

MODES = ("avodyssey", "strict")
_STRIP = (",", ".", "!", "?", ";", ":", "'")
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclasses.dataclass(frozen=True)
class Parsed:
  """How one response was read.

  Attributes:
    letter: the official parser's letter (``"A"`` on fallback).
    stage: ``"letter"``, ``"space"``, ``"content"`` or ``"fallback"`` (step 5).
    ambiguous: several candidates whose markers were all missing (a tie at index -1).
  """

  letter: str
  stage: str
  ambiguous: bool

  def letter_for(self, mode: str) -> str | None:
    """The letter under ``mode`` (``None`` when ``strict`` cannot read the response)."""
    if mode == "strict" and (self.stage == "fallback" or self.ambiguous):
      return None
    return self.letter


@dataclasses.dataclass(frozen=True)
class ParseBatch:
  """Letters of a batch of responses and how many could not be read.

  Attributes:
    letters: one letter per response (``None`` where ``strict`` could not read it).
    mode: the parser mode.
    n_failed: responses that reached the fallback (plus, in ``strict`` mode, ambiguous ones).
    fail_rate: ``n_failed / len(letters)``.
  """

  letters: list[str | None]
  mode: str
  n_failed: int
  fail_rate: float


def _check_mode(mode: str) -> str:
  if mode not in MODES:
    raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
  return mode


def _options_dict(options: Sequence[str] | Mapping[str, str]) -> dict[str, str]:
  """``{letter: text}`` from a list of option texts (A, B, ...) or a letter → text mapping."""
  if isinstance(options, str) or not isinstance(options, (Sequence, Mapping)):
    raise ValueError(
      f"options must be a list of option texts or a letter -> text dict, got "
      f"{type(options).__name__}"
    )
  if isinstance(options, Mapping):
    pairs = list(options.items())
  else:
    if len(options) > len(_LETTERS):
      raise ValueError(f"options has {len(options)} entries; at most 26 are supported")
    pairs = list(zip(_LETTERS, options, strict=False))
  if len(pairs) < 2:
    raise ValueError(f"options needs at least 2 choices, got {len(pairs)}")
  for letter, text in pairs:
    if not isinstance(letter, str) or len(letter) != 1 or not letter.isupper():
      raise ValueError(f"options letters must be single capital letters, got {letter!r}")
    if not isinstance(text, str) or not text.strip():
      raise ValueError(f"options texts must be non-empty strings, got {text!r} for {letter}")
  return dict(pairs)


def parse_detail(response: str, options: Sequence[str] | Mapping[str, str]) -> Parsed:
  """Runs the official stages on ``response`` (see the module docstring)."""
  if not isinstance(response, str):
    raise ValueError(f"response must be a string, got {type(response).__name__}")
  index2ans = _options_dict(options)
  choices = list(index2ans)
  for ch in _STRIP:
    response = response.strip(ch)
  response = f" {response} "
  candidates = [c for c in choices if c in response]
  stage = "letter"
  if not candidates:
    candidates, stage = [c for c in choices if f" {c} " in response], "space"
  if not candidates and len(response.split()) > 5:
    lower = response.lower()
    candidates = [c for c, text in index2ans.items() if text.lower() in lower]
    stage = "content"
  if not candidates:
    return Parsed("A", "fallback", False)
  if len(candidates) == 1:
    return Parsed(candidates[0], stage, False)
  if stage == "letter":
    idx = [response.rfind(f"({c})") for c in candidates]
  elif stage == "space":
    idx = [response.rfind(f" {c} ") for c in candidates]
  else:
    idx = [response.lower().rfind(index2ans[c].lower()) for c in candidates]
  return Parsed(candidates[int(np.argmax(idx))], stage, all(i == -1 for i in idx))


def parse_answer(
  response: str, options: Sequence[str] | Mapping[str, str], mode: str = "avodyssey"
) -> str | None:
  """The option letter that ``response`` names.

  Args:
    response: the model's answer text.
    options: the option texts in letter order (``["the first audio", "the second audio"]``), or
      a ``{letter: text}`` mapping.
    mode: ``"avodyssey"`` (the official evaluation, ``"A"`` when nothing is found) or
      ``"strict"`` (``None`` when nothing, or no unambiguous letter, is found).

  Returns:
    A letter, or ``None`` in ``strict`` mode for an unreadable response.

  Examples:
    >>> parse_answer("Both sound equal", ["the first audio", "the second audio"])
    'B'
    >>> parse_answer("I cannot hear audio", ["the first audio", "the second audio"], "strict")
  """
  return parse_detail(response, options).letter_for(_check_mode(mode))


def parse_answers(
  responses: Sequence[str],
  options: Sequence[Sequence[str] | Mapping[str, str]],
  mode: str = "avodyssey",
) -> ParseBatch:
  """:func:`parse_answer` over a batch, with the parse failure rate.

  Args:
    responses: one response per item.
    options: one option list (or mapping) per item.
    mode: ``"avodyssey"`` or ``"strict"``.

  Returns:
    A :class:`ParseBatch`.
  """
  _check_mode(mode)
  if len(responses) != len(options):
    raise ValueError(f"responses ({len(responses)}) and options ({len(options)}) differ in length")
  details = [parse_detail(r, o) for r, o in zip(responses, options, strict=True)]
  letters = [d.letter_for(mode) for d in details]
  if mode == "strict":
    n_failed = sum(x is None for x in letters)
  else:
    n_failed = sum(d.stage == "fallback" for d in details)
  return ParseBatch(letters, mode, n_failed, n_failed / len(letters) if letters else 0.0)
