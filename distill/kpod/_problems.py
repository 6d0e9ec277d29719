"""A generator of GSM8K-style multi-step arithmetic word problems with rationales.

No pretrained language model can be fetched for the experiments, so the student learns to
reason in steps from scratch on these problems. Each problem tracks one quantity through a
chain of operations (buy, give away, multiply); the question may hold filler phrases and
distractor sentences about other people, and each rationale step restates one operation with
its arithmetic (``"tom buys 5 more , so 12 + 5 = 17 ."``). Longer chains than seen in training
make an out-of-distribution split.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from distill.kpod._math_data import MathProblem

_NAMES = ("tom", "ann", "bob", "eva", "sam", "lily", "max", "zoe", "ben", "mia")
_ITEMS = ("apples", "pens", "cards", "stones", "coins", "books", "shells", "cups")
_QUESTION_FILLER = (
  "on a sunny day ,",
  "at the market ,",
  "during the week ,",
  "after school ,",
  "in the morning ,",
)
_STEP_FILLER = ("then", "after that", "as we know", "in this case", "next", "now")


@dataclasses.dataclass(frozen=True)
class ProblemConfig:
  """Shape of generated problems.

  Attributes:
    min_steps: fewest operations (rationale steps) per problem, >= 1.
    max_steps: most operations per problem.
    max_value: every intermediate quantity stays in ``[0, max_value]``.
    max_operand: largest number added or removed in one step.
    filler_prob: probability of a filler phrase before each question sentence and each step.
    num_distractors: sentences about other people's items inserted into the question.
  """

  min_steps: int = 2
  max_steps: int = 3
  max_value: int = 99
  max_operand: int = 20
  filler_prob: float = 0.5
  num_distractors: int = 1

  def __post_init__(self):
    if not 1 <= self.min_steps <= self.max_steps:
      raise ValueError(
        f"need 1 <= min_steps <= max_steps, got min_steps={self.min_steps}, "
        f"max_steps={self.max_steps}"
      )
    if self.max_value < 10 or self.max_operand < 1:
      raise ValueError(
        f"max_value must be >= 10 and max_operand >= 1, got {self.max_value}, {self.max_operand}"
      )
    if not 0.0 <= self.filler_prob <= 1.0:
      raise ValueError(f"filler_prob must lie in [0, 1], got {self.filler_prob}")
    if self.num_distractors < 0:
      raise ValueError(f"num_distractors must be >= 0, got {self.num_distractors}")

  def longer_chains(self, extra_steps: int = 2) -> ProblemConfig:
    """The out-of-distribution config: chains ``extra_steps`` longer than the longest here."""
    lo = self.max_steps + 1
    return dataclasses.replace(self, min_steps=lo, max_steps=self.max_steps + extra_steps)


def _operation(rng: np.random.Generator, x: int, cfg: ProblemConfig) -> tuple[str, int, int]:
  """Picks an operation valid from value ``x``: (kind, operand, result)."""
  kinds = []
  if x < cfg.max_value:
    kinds.append("add")
  if x > 0:
    kinds.append("sub")
  if 0 < x and 2 * x <= cfg.max_value:
    kinds.append("mul")
  kind = kinds[rng.integers(len(kinds))]
  if kind == "add":
    b = int(rng.integers(1, min(cfg.max_operand, cfg.max_value - x) + 1))
    return kind, b, x + b
  if kind == "sub":
    b = int(rng.integers(1, min(cfg.max_operand, x) + 1))
    return kind, b, x - b
  b = int(rng.integers(2, min(3, cfg.max_value // x) + 1))
  return kind, b, x * b


def _filler(rng: np.random.Generator, options: tuple[str, ...], prob: float) -> str:
  return f"{options[rng.integers(len(options))]} " if rng.random() < prob else ""


def generate_problem(rng: np.random.Generator, cfg: ProblemConfig) -> MathProblem:
  """One random problem (see :func:`generate_problems`)."""
  name, other = rng.choice(_NAMES, size=2, replace=False)
  item, other_item = rng.choice(_ITEMS, size=2, replace=False)
  x = int(rng.integers(1, cfg.max_value // 2 + 1))
  sentences = [f"{name} has {x} {item} ."]
  steps = []
  for _ in range(int(rng.integers(cfg.min_steps, cfg.max_steps + 1))):
    kind, b, y = _operation(rng, x, cfg)
    if kind == "add":
      sentences.append(f"{name} buys {b} more {item} .")
      steps.append(f"{name} buys {b} more , so {x} + {b} = {y} .")
    elif kind == "sub":
      sentences.append(f"{name} gives {b} {item} away .")
      steps.append(f"{name} gives {b} away , so {x} - {b} = {y} .")
    else:
      word = {2: "doubles", 3: "triples"}[b]
      sentences.append(f"{name} {word} the {item} .")
      steps.append(f"{name} {word} them , so {x} * {b} = {y} .")
    x = y
  for _ in range(cfg.num_distractors):
    pos = int(rng.integers(1, len(sentences) + 1))
    sentences.insert(pos, f"{other} has {int(rng.integers(1, cfg.max_value))} {other_item} .")
  sentences = [_filler(rng, _QUESTION_FILLER, cfg.filler_prob) + s for s in sentences]
  steps = [_filler(rng, _STEP_FILLER, cfg.filler_prob) + s for s in steps]
  question = " ".join(sentences) + f" how many {item} does {name} have now ?"
  return MathProblem(question, tuple(steps), str(x))


def generate_problems(
  n: int, config: ProblemConfig | None = None, *, seed: int
) -> list[MathProblem]:
  """Generates ``n`` problems, deterministically from ``seed``.

  Args:
    n: number of problems, >= 0.
    config: a :class:`ProblemConfig` (default: 2-3 steps, values below 100).
    seed: random seed.

  Returns:
    ``n`` :class:`MathProblem` records whose ``answer`` is the final quantity.
  """
  if n < 0:
    raise ValueError(f"n must be >= 0, got {n}")
  cfg = ProblemConfig() if config is None else config
  rng = np.random.default_rng(seed)
  return [generate_problem(rng, cfg) for _ in range(n)]
