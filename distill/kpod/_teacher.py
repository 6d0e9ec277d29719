"""A teacher of ours: a trained causal LM writes the rationales the student is distilled on.

In the paper the rationales are GPT-3.5's zero-shot chains of thought, with their slips; here a
model of ours that was trained on the task (e.g. a larger pretrained LLaMA after CoT training)
decodes a rationale for each training question, in the student's own layout
(``<bos> question <sep> steps #### answer <eos>``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from flax import nnx

from distill.kpod._data import greedy_generate
from distill.kpod._evaluate import equation_errors, extract_answer
from distill.kpod._math_data import MathProblem, format_number
from distill.kpod._tokenizer import WordTokenizer

TEACHER_KEEP = ("correct", "all")


def split_rationale(text: str) -> tuple[tuple[str, ...], str | None]:
  """Splits a decoded generation into its rationale steps and its final answer.

  ``"s1 . s2 . #### 97"`` gives ``(("s1 .", "s2 ."), "97")``: steps end at each ``.`` word
  (the generator's layout: ``... = 48 .``); text after the last step's ``.`` and before
  ``####`` is a step of its own. The answer is the number after the last ``####``
  (normalised by :func:`~distill.kpod.format_number`), ``None`` when there is none.
  """
  body, marker, _ = text.rpartition("####")
  body = body if marker else text
  steps, current = [], []
  for word in body.split():
    current.append(word)
    if word == ".":
      steps.append(" ".join(current))
      current = []
  if current:
    steps.append(" ".join(current))
  return tuple(steps), (extract_answer(text) if marker else None)


def teacher_rationales(
  model: nnx.Module,
  tok: WordTokenizer,
  problems: Sequence[MathProblem],
  *,
  max_len: int,
  keep: str = "correct",
) -> tuple[list[MathProblem], dict[str, float]]:
  """The teacher's greedy rationale for each problem, in place of the reference one.

  Args:
    model: the teacher, a causal LM over ``tok``'s ids (e.g. a student after CoT training).
    tok: the tokenizer (``<bos>``, ``<sep>`` and ``<eos>`` ids as in the student's layout).
    problems: the problems; their questions are the prompts.
    max_len: prompt plus generation length, in tokens.
    keep: ``"correct"`` keeps only the problems whose rationale ends in the reference answer
      (a generation without ``####`` or with another answer is dropped); ``"all"`` keeps every
      problem with a ``####`` answer, written as the teacher wrote it (its answer included).
      [U] the paper does not say whether wrong rationales were filtered.

  Returns:
    ``(problems, stats)``: the kept problems with the teacher's steps and answer, in the input
    order, and ``{"accuracy", "kept", "step_arithmetic", "steps_per_problem"}``: the teacher's
    exact match on ``problems``, the kept fraction, the fraction of its equations whose
    arithmetic is right, and the mean number of steps of the kept rationales.
  """
  if keep not in TEACHER_KEEP:
    raise ValueError(f"keep must be one of {TEACHER_KEEP}, got {keep!r}")
  if not problems:
    raise ValueError("problems is empty: the teacher needs questions to answer")
  prompts = [[tok.bos_id, *tok.encode(p.question), tok.sep_id] for p in problems]
  generated = greedy_generate(model, prompts, max_len=max_len, eos_id=tok.eos_id, pad_id=tok.pad_id)
  out, right, wrong_eq, total_eq = [], [], 0, 0
  for p, ids in zip(problems, generated, strict=True):
    text = tok.decode(ids)  # up to <eos>
    steps, answer = split_rationale(text)
    correct = answer is not None and answer == format_number(p.answer)
    right.append(correct)
    wrong, total = equation_errors(text)
    wrong_eq, total_eq = wrong_eq + wrong, total_eq + total
    if answer is not None and steps and (correct or keep == "all"):
      out.append(MathProblem(p.question, steps, answer))
  stats = {
    "accuracy": float(np.mean(right)),
    "kept": len(out) / len(problems),
    "step_arithmetic": float(1 - wrong_eq / total_eq) if total_eq else float("nan"),
    "steps_per_problem": float(np.mean([len(p.steps) for p in out])) if out else 0.0,
  }
  return out, stats
