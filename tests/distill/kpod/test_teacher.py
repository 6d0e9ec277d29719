"""A teacher's rationales: parsing a generation into steps, keeping the right ones, and
distilling on them in place of the generator's."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from distill import kpod


def test_split_rationale_inverts_the_students_layout():
  tok = kpod.problem_tokenizer()
  for p in kpod.generate_problems(40, kpod.ProblemConfig(), seed=3):
    ids = tok.encode(" ".join([*p.steps, "####", p.answer]))
    assert kpod.split_rationale(tok.decode(ids)) == (p.steps, p.answer)
  unfinished = ("a , so 1 + 2 = 3 .", "then 3")
  assert kpod.split_rationale("a , so 1 + 2 = 3 . then 3") == (unfinished, None)
  assert kpod.split_rationale("so 4 = 4 #### 04") == (("so 4 = 4",), "4")


class _Scripted(nnx.Module):
  """A fake causal LM that writes a fixed continuation per prompt: the row whose prompt
  matches stored sequence ``k`` is given ``seqs[k]``'s next token (greedy decoding)."""

  def __init__(self, seqs: list[list[int]], prompt_lens: list[int], vocab: int):
    length = max(map(len, seqs)) + 1
    self.seqs = nnx.Variable(jnp.asarray([s + [0] * (length - len(s)) for s in seqs]))
    self.prompt = nnx.Variable(jnp.arange(length)[None] < jnp.asarray(prompt_lens)[:, None])
    self.vocab = vocab

  def __call__(self, tokens):
    seqs, prompt = self.seqs[...], self.prompt[...]
    width = min(tokens.shape[1], seqs.shape[1])
    same = (tokens[:, None, :width] == seqs[None, :, :width]) | ~prompt[None, :, :width]
    rows = seqs[jnp.argmax(same.all(-1), axis=1)]  # (B, length)
    nxt = jnp.concatenate([rows[:, 1:], jnp.zeros_like(rows[:, :1])], axis=1)
    nxt = jnp.pad(nxt, ((0, 0), (0, max(tokens.shape[1] - nxt.shape[1], 0))))[:, : tokens.shape[1]]
    return (nxt[..., None] == jnp.arange(self.vocab)).astype(jnp.float32)


def _teacher_of(tok, problems, writes):
  prompts = [[tok.bos_id, *tok.encode(p.question), tok.sep_id] for p in problems]
  seqs = [q + tok.encode(w) + [tok.eos_id] for q, w in zip(prompts, writes, strict=True)]
  return _Scripted(seqs, [len(q) for q in prompts], tok.vocab_size)


def test_teacher_rationales_keep_the_right_ones_as_written():
  tok = kpod.problem_tokenizer()
  problems = kpod.generate_problems(4, kpod.ProblemConfig(), seed=11)
  # 0: the reference; 1: a slip in a step but the right answer; 2: a wrong answer; 3: no ####.
  p1 = problems[1]
  writes = [
    " ".join([*problems[0].steps, "####", problems[0].answer]),
    " ".join(["so 1 + 1 = 3 .", *p1.steps[1:], "####", p1.answer]),
    " ".join([*problems[2].steps, "####", str(int(problems[2].answer) + 1)]),
    " ".join(problems[3].steps),
  ]
  teacher = _teacher_of(tok, problems, writes)
  kept, stats = kpod.teacher_rationales(teacher, tok, problems, max_len=160)
  assert [p.question for p in kept] == [problems[0].question, p1.question]
  assert kept[0].steps == problems[0].steps and kept[0].answer == problems[0].answer
  assert kept[1].steps == ("so 1 + 1 = 3 .", *p1.steps[1:])
  equations = [kpod.equation_errors(w) for w in writes]
  assert stats["accuracy"] == 0.5 and stats["kept"] == 0.5
  assert stats["step_arithmetic"] == pytest.approx(
    1 - sum(e[0] for e in equations) / sum(e[1] for e in equations)
  )
  every, stats_all = kpod.teacher_rationales(teacher, tok, problems, max_len=160, keep="all")
  assert [p.question for p in every] == [p.question for p in problems[:3]]
  assert every[2].answer == str(int(problems[2].answer) + 1)  # the teacher's, as written
  assert stats_all["kept"] == 0.75 and stats_all["accuracy"] == 0.5
  with pytest.raises(ValueError, match="keep must be one of"):
    kpod.teacher_rationales(teacher, tok, problems, max_len=160, keep="best")


def test_prepare_distils_on_the_teachers_rationales():
  cfg = dataclasses.replace(
    kpod.KPODConfig.smoke(), num_train=12, num_test=2, num_ood=2, weighting_steps=2
  )
  train, *_ = kpod.problem_sets(cfg, 0)
  # A teacher that kept 10 of the 12 questions and wrote its own (shorter) rationale.
  mine = [kpod.MathProblem(p.question, p.steps[-1:], p.answer) for p in train[:10]]
  tok = kpod.problem_tokenizer()
  prep = kpod.prepare(cfg, 0, tokenizer=tok, progress=False, rationales=mine)
  assert prep.train == mine
  assert [len(w) for w in prep.token_weights] == [len(tok.encode(p.steps[0])) for p in mine]
  assert np.all(prep.kpod_schedule.num_steps == 1)
  stray = [*mine, kpod.MathProblem("how many ?", ("1 .",), "1")]
  with pytest.raises(ValueError, match="rationales must answer this seed's training questions"):
    kpod.prepare(cfg, 0, tokenizer=tok, progress=False, rationales=stray)
