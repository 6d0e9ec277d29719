"""The synthetic multi-step problem generator and the word tokenizer."""

import re

import numpy as np
import pytest

from distill import kpod


def _check_arithmetic(p):
  x = int(re.search(r"has (\d+)", p.question).group(1))
  for step in p.steps:
    a, op, b, c = re.search(r"(\d+) ([-+*]) (\d+) = (\d+)", step).groups()
    assert int(a) == x and eval(f"{a}{op}{b}") == int(c)  # noqa: S307
    x = int(c)
  assert str(x) == p.answer


def test_generator_rationales_are_correct_chains():
  cfg = kpod.ProblemConfig(min_steps=2, max_steps=4, num_distractors=2)
  problems = kpod.generate_problems(200, cfg, seed=0)
  for p in problems:
    _check_arithmetic(p)
    assert 2 <= len(p.steps) <= 4
    assert 0 <= int(p.answer) <= cfg.max_value
  assert {len(p.steps) for p in problems} == {2, 3, 4}
  assert problems == kpod.generate_problems(200, cfg, seed=0)
  assert problems != kpod.generate_problems(200, cfg, seed=1)


def test_longer_chain_split_and_config_errors():
  ood = kpod.ProblemConfig(max_steps=3).longer_chains(2)
  assert (ood.min_steps, ood.max_steps) == (4, 5)
  for p in kpod.generate_problems(50, ood, seed=3):
    _check_arithmetic(p)
    assert len(p.steps) in (4, 5)
  no_filler = kpod.generate_problems(20, kpod.ProblemConfig(filler_prob=0.0), seed=0)
  assert all(
    s.split()[0] in {"tom", "ann", "bob", "eva", "sam", "lily", "max", "zoe", "ben", "mia"}
    for p in no_filler
    for s in p.steps
  )
  with pytest.raises(ValueError, match="min_steps <= max_steps"):
    kpod.ProblemConfig(min_steps=3, max_steps=2)
  with pytest.raises(ValueError, match="filler_prob"):
    kpod.ProblemConfig(filler_prob=2.0)


def test_tokenizer_roundtrip_splits_digits():
  problems = kpod.generate_problems(50, seed=0)
  tok = kpod.WordTokenizer.fit(p.question + " ".join(p.steps) for p in problems)
  text = " ".join(problems[0].steps) + " #### " + problems[0].answer
  ids = tok.encode(text)
  assert tok.decode(ids) == text
  assert tok.encode("123") == [tok.stoi["1"], tok.stoi["2"], tok.stoi["3"]]
  assert tok.decode([*tok.encode("7 ."), tok.eos_id, *tok.encode("8")]) == "7 ."
  assert np.all(np.asarray(tok.encode("unseenword")) == tok.stoi["<unk>"])
  assert tok.decode(tok.encode("1 qqq 2")) == "1 <unk> 2"


@pytest.mark.parametrize(
  "cfg",
  [
    kpod.KPODConfig().problems,
    kpod.KPODConfig().problems.longer_chains(2),
    kpod.ProblemConfig(min_steps=1, max_steps=6, max_value=999, max_operand=99),
  ],
)
def test_every_generated_equation_is_right(cfg):
  # The reference rationales the student is distilled from: every `a op b = c` must hold
  # (a wrong step in a report's sample generation is the student's, not the data's).
  for p in kpod.generate_problems(2000, cfg, seed=5):
    wrong, total = kpod.equation_errors(" ".join(p.steps))
    assert wrong == 0 and total == len(p.steps)


def test_equation_errors_finds_the_wrong_steps():
  text = "sam buys 7 more , so 41 + 7 = 42 . sam doubles them , so 42 * 2 = 84 . #### 84"
  assert kpod.equation_errors(text) == (1, 2)
  assert kpod.equation_errors("8 / 4 = 2. 3 - 5 = -2.") == (0, 2)
  assert kpod.equation_errors("no equation") == (0, 0)
