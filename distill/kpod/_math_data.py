"""Math word problems with step-by-step rationales: GSM8K and SVAMP loaders.

Both loaders return :class:`MathProblem` records, the common input of the tokenizer, the
evaluator and the KPOD pipeline (the synthetic generator in ``_problems`` returns them too).
Given no folder, they look in ``$FIRA_JAX_DATA_DIR/{gsm8k,svamp}`` and then the cache, and with
``download=True`` fetch the files (checksummed) from the authors' repositories; see
:mod:`fira_jax.lab.download`.
"""

from __future__ import annotations

import ast
import json
import math
import os
import pathlib
import re
from typing import NamedTuple

from fira_jax.lab.download import dataset_dir, fetch

GSM8K_URL = (
  "https://raw.githubusercontent.com/openai/grade-school-math/"
  "3101c7d5072418e28b9008a6636bde82a006892c/grade_school_math/data"
)
SVAMP_URL = (
  "https://raw.githubusercontent.com/arkilpatel/SVAMP/"
  "689d7ccac74b9983a2ac7cc3b264f441b99e7c53/SVAMP.json"
)
_GSM8K_SHA256 = {
  "train.jsonl": "17f347dc51477c50d4efb83959dbb7c56297aba886e5544ee2aaed3024813465",
  "test.jsonl": "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14",
}
_SVAMP_SHA256 = "5be77703a6d891ae476d7c082787ad361392aa02453b132516cdd5f4e7934e3e"

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


def download_gsm8k(data_dir: str | os.PathLike) -> pathlib.Path:
  """Fetches GSM8K ``train.jsonl`` and ``test.jsonl`` into ``data_dir`` (SHA-256 checked)."""
  for name, sha in _GSM8K_SHA256.items():
    fetch(f"{GSM8K_URL}/{name}", pathlib.Path(data_dir) / name, sha)
  return pathlib.Path(data_dir)


def download_svamp(data_dir: str | os.PathLike) -> pathlib.Path:
  """Fetches ``SVAMP.json`` into ``data_dir`` (SHA-256 checked)."""
  fetch(SVAMP_URL, pathlib.Path(data_dir) / "SVAMP.json", _SVAMP_SHA256)
  return pathlib.Path(data_dir)


def _data_file(
  data_dir: str | os.PathLike | None, folder: str, name: str, download: bool, fetch_into
) -> pathlib.Path:
  source = GSM8K_URL if folder == "gsm8k" else SVAMP_URL
  found = dataset_dir(
    folder, [name], data_dir, download=download, fetch_into=fetch_into, hint=f"from {source}"
  )
  return found / name


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


def load_gsm8k(
  data_dir: str | os.PathLike | None = None, split: str = "train", *, download: bool = False
) -> list[MathProblem]:
  """Loads GSM8K ``{split}.jsonl`` (lines of ``{"question", "answer"}``) from ``data_dir``.

  Args:
    data_dir: folder holding ``train.jsonl`` and ``test.jsonl``; ``None`` looks in
      ``$FIRA_JAX_DATA_DIR/gsm8k`` and then the cache.
    split: ``"train"`` (7,473 problems) or ``"test"`` (1,319).
    download: when the file is not found, fetch both splits (checksummed) from
      github.com/openai/grade-school-math into ``data_dir`` (or the cache).

  Returns:
    The problems in file order.
  """
  if split not in ("train", "test"):
    raise ValueError(f"split must be 'train' or 'test', got {split!r}")
  problems = []
  path = _data_file(data_dir, "gsm8k", f"{split}.jsonl", download, download_gsm8k)
  with open(path, encoding="utf-8") as f:
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


def load_svamp(
  data_dir: str | os.PathLike | None = None, *, download: bool = False
) -> list[MathProblem]:
  """Loads SVAMP (``SVAMP.json``: 1,000 problems) with rationales written from the equations.

  The question is ``Body`` followed by ``Question``; each operation of ``Equation`` becomes one
  rationale step, and the final answer is ``Answer``.

  Args:
    data_dir: folder holding ``SVAMP.json``; ``None`` looks in ``$FIRA_JAX_DATA_DIR/svamp``
      and then the cache.
    download: when the file is not found, fetch it (checksummed) from
      github.com/arkilpatel/SVAMP into ``data_dir`` (or the cache).
  """
  path = _data_file(data_dir, "svamp", "SVAMP.json", download, download_svamp)
  with open(path, encoding="utf-8") as f:
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
