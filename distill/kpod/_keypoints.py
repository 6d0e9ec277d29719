"""Token kinds of a rationale (operand, result and final-result digits, operators, filler) and
the learned keep probabilities per kind, at the end of training and along it."""

from __future__ import annotations

import re

import numpy as np

from distill.kpod._math_data import MathProblem
from distill.kpod._tokenizer import WordTokenizer

__all__ = [
  "KINDS",
  "TRACE_KINDS",
  "hide_final_result",
  "restore_final_result",
  "token_kinds",
  "trace_point",
  "weight_stats_by_kind",
]

_FINAL_RESULT = re.compile(r"=\s*\d+(?=[^=]*$)")


def token_kinds(words: list[str]) -> list[str]:
  """Kind of each rationale word: ``"final result"`` (digits after the last ``=``),
  ``"result"`` (digits after another ``=``), ``"operand"`` (other digits), ``"operator"``
  (``+ - * =``) or ``"other"``."""
  last_eq = max((i for i, w in enumerate(words) if w == "="), default=len(words))
  kinds, after_eq = [], False
  for i, w in enumerate(words):
    if w.isdigit():
      kinds.append("final result" if i > last_eq else "result" if after_eq else "operand")
    else:
      after_eq = w == "=" or (after_eq and w not in (".", ","))
      kinds.append("operator" if w in ("+", "-", "*", "=") else "other")
  return kinds


KINDS = ("operand", "result", "final result", "operator", "other")


def weight_stats_by_kind(
  tok: WordTokenizer, problems: list[MathProblem], weights: list[np.ndarray]
) -> dict[str, tuple[float, float, int]]:
  """Mean, std and count of the token weights of each kind of :func:`token_kinds`, plus
  ``"digit"`` (all digits together) and the operators split into ``"+ - *"`` and ``"="``."""
  kinds: dict[str, list[float]] = {k: [] for k in ("digit",) + KINDS + ("+ - *", "=")}
  for p, w in zip(problems, weights, strict=True):
    words = [tok.itos[i] for s in p.steps for i in tok.encode(s)]
    for word, kind, x in zip(words, token_kinds(words), w, strict=True):
      kinds[kind].append(float(x))
      if kind in ("operand", "result", "final result"):
        kinds["digit"].append(float(x))
      elif kind == "operator":
        kinds["=" if word == "=" else "+ - *"].append(float(x))
  return {k: (float(np.mean(v)), float(np.std(v)), len(v)) for k, v in kinds.items() if v}


TRACE_KINDS = ("digit", "final result", "+ - *", "=", "other")


def trace_point(
  step: int, tok: WordTokenizer, problems: list[MathProblem], weights: list[np.ndarray]
) -> dict[str, float]:
  """One point of the keep probabilities along training: ``{"step", kind: mean}`` for the
  kinds of :data:`TRACE_KINDS` (``"other"`` is the filler: words, names, punctuation)."""
  stats = weight_stats_by_kind(tok, problems, weights)
  return {"step": step, **{k: round(stats[k][0], 4) for k in TRACE_KINDS if k in stats}}


def hide_final_result(problem: MathProblem) -> MathProblem:
  """``problem`` with the final result (the number after the rationale's last ``=``) removed
  from its last step: ``"so 84 + 1 = 85 ."`` becomes ``"so 84 + 1 = ."``.

  The final result repeats the answer, so an answer predictor reads it off and no other token
  lowers its loss; without it the mask must keep what the answer is computed from (the last
  equation's operands and operator, and the steps they come from). A step without ``=`` is
  left as it is.
  """
  if not problem.steps:
    return problem
  last = _FINAL_RESULT.sub("=", problem.steps[-1])
  return problem._replace(steps=(*problem.steps[:-1], last))


def restore_final_result(
  tok: WordTokenizer, problems: list[MathProblem], weights: list[np.ndarray], fill: float = 1.0
) -> list[np.ndarray]:
  """Token weights of :func:`hide_final_result`'s rationales mapped back onto the full ones of
  ``problems``: the final-result digits get ``fill`` (they are the answer), the others keep
  their weight. ``weights[i]`` has one entry per token of the hidden rationale."""
  out = []
  for p, w in zip(problems, weights, strict=True):
    words = [tok.itos[i] for s in p.steps for i in tok.encode(s)]
    final = [k for k, kind in enumerate(token_kinds(words)) if kind == "final result"]
    w = np.asarray(w)
    if len(w) + len(final) != len(words):
      raise ValueError(
        f"weights of {len(w)} tokens do not fit a rationale of {len(words)} tokens with "
        f"{len(final)} final-result digits"
      )
    full = np.full(len(words), fill, w.dtype)
    full[np.setdiff1d(np.arange(len(words)), final)] = w
    out.append(full)
  return out
