"""Math word problems with step-by-step rationales: GSM8K and SVAMP loaders.

Both loaders return :class:`MathProblem` records, the common input of the tokenizer, the
evaluator and the KPOD pipeline (the synthetic generator in ``_problems`` returns them too).
"""

from __future__ import annotations

import ast
import json
import math
import os
import pathlib
import re
from typing import NamedTuple

_ANNOTATION = re.compile(r"<<([^<>=]*)=([^<>]*)>>")


class Calculation(NamedTuple):
  """A calculator annotation ``<<expression=value>>`` of a GSM8K rationale."""

  expression: str
  value: str


class MathProblem(NamedTuple):
  """A word problem with its rationale split into steps and its final answer.

  Attributes:
    question: the problem text.
    steps: the rationale, one string per reasoning step (calculator annotations removed).
    answer: the final numeric answer, normalised by :func:`format_number`.
    calculations: the ``<<expr=value>>`` annotations in order (empty where there are none).
  """

  question: str
  steps: tuple[str, ...]
  answer: str
  calculations: tuple[Calculation, ...] = ()


def format_number(value: float | int | str) -> str:
  """Canonical text of a number: ``'1,200.50' -> '1200.5'``, ``'3.0' -> '3'``, ``-0 -> '0'``.

  Raises:
    ValueError: if ``value`` is not a number.
  """
  if isinstance(value, str):
    text = value.strip().replace(",", "").replace("$", "")
    try:
      value = float(text)
    except ValueError:
      raise ValueError(f"not a number: {text!r}") from None
  x = float(value)
  if not math.isfinite(x):
    raise ValueError(f"not a finite number: {value!r}")
  if abs(x - round(x)) < 1e-9:
    return str(int(round(x)))
  return f"{x:.6f}".rstrip("0").rstrip(".")


def _data_file(data_dir: str | os.PathLike, name: str) -> pathlib.Path:
  path = pathlib.Path(data_dir) / name
  if not path.is_file():
    raise FileNotFoundError(f"{path} not found; data_dir must hold {name}")
  return path


def parse_gsm8k_answer(answer: str) -> tuple[tuple[str, ...], str, tuple[Calculation, ...]]:
  """Splits a GSM8K answer field into (steps, final answer, calculator annotations).

  Steps are the non-empty lines before ``#### N``; annotations are removed from the steps.

  Raises:
    ValueError: if there is no ``####`` line or no rationale step.
  """
  if "####" not in answer:
    raise ValueError(f"GSM8K answer has no '#### N' line: {answer[-80:]!r}")
  rationale, final = answer.rsplit("####", 1)
  calcs = tuple(Calculation(e.strip(), v.strip()) for e, v in _ANNOTATION.findall(rationale))
  steps = tuple(
    _ANNOTATION.sub("", line).strip() for line in rationale.splitlines() if line.strip()
  )
  if not steps:
    raise ValueError("GSM8K answer has an empty rationale")
  return steps, format_number(final), calcs


def load_gsm8k(data_dir: str | os.PathLike, split: str = "train") -> list[MathProblem]:
  """Loads GSM8K ``{split}.jsonl`` (lines of ``{"question", "answer"}``) from ``data_dir``.

  Args:
    data_dir: folder holding ``train.jsonl`` and ``test.jsonl``.
    split: ``"train"`` (7,473 problems) or ``"test"`` (1,319).

  Returns:
    The problems in file order.
  """
  if split not in ("train", "test"):
    raise ValueError(f"split must be 'train' or 'test', got {split!r}")
  problems = []
  with open(_data_file(data_dir, f"{split}.jsonl"), encoding="utf-8") as f:
    for line in f:
      if line.strip():
        record = json.loads(line)
        steps, answer, calcs = parse_gsm8k_answer(record["answer"])
        problems.append(MathProblem(record["question"].strip(), steps, answer, calcs))
  return problems


_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


def equation_steps(equation: str) -> tuple[list[str], float]:
  """Writes a step-by-step rationale for an arithmetic expression, innermost operation first.

  ``"( ( 8.0 + 3.0 ) * 2.0 )"`` gives ``["8 + 3 = 11.", "11 * 2 = 22."]`` and 22.0.

  Raises:
    ValueError: for anything but numbers and ``+ - * /``.
  """
  steps: list[str] = []

  def walk(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
      return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
      a, b = walk(node.left), walk(node.right)
      op = _OPS[type(node.op)]
      c = {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else math.nan}[op]
      steps.append(f"{format_number(a)} {op} {format_number(b)} = {format_number(c)}.")
      return c
    raise ValueError(f"unsupported equation {equation!r}")

  try:
    tree = ast.parse(equation.strip(), mode="eval")
  except SyntaxError:
    raise ValueError(f"cannot parse equation {equation!r}") from None
  value = walk(tree.body)
  return steps, value


def load_svamp(data_dir: str | os.PathLike) -> list[MathProblem]:
  """Loads SVAMP (``SVAMP.json``: 1,000 problems) with rationales written from the equations.

  The question is ``Body`` followed by ``Question``; each operation of ``Equation`` becomes one
  rationale step, and the final answer is ``Answer``.
  """
  with open(_data_file(data_dir, "SVAMP.json"), encoding="utf-8") as f:
    records = json.load(f)
  problems = []
  for r in records:
    body = r["Body"].strip()
    if not body.endswith((".", "?", "!")):
      body += "."
    steps, _ = equation_steps(r["Equation"])
    if not steps:  # a bare number: the rationale states it
      steps = [f"The answer is {format_number(r['Answer'])}."]
    problems.append(
      MathProblem(f"{body} {r['Question'].strip()}", tuple(steps), format_number(r["Answer"]))
    )
  return problems
