"""Encoding problems for the student and the weighting module; greedy generation."""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from distill import kpod


@pytest.fixture(scope="module")
def setup():
  problems = kpod.generate_problems(6, kpod.ProblemConfig(min_steps=2, max_steps=3), seed=0)
  tok = kpod.WordTokenizer.fit(p.question + " " + " ".join(p.steps) for p in problems)
  return problems, tok


def test_encode_student_masks_given_steps_and_places_weights(setup):
  problems, tok = setup
  n = np.array([len(p.steps) for p in problems])
  given = n - 1
  weights = [np.linspace(0.1, 0.9, sum(len(tok.encode(s)) for s in p.steps)) for p in problems]
  b = kpod.encode_student(tok, problems, given, max_len=128, token_weights=weights)
  for i, p in enumerate(problems):
    generated = [tok.itos[t] for t, m in zip(b.targets[i], b.loss_mask[i], strict=True) if m]
    expect = tok.decode(tok.encode(p.steps[-1] + " #### " + p.answer)).split()
    assert tok.decode([tok.stoi[w] for w in generated]) == " ".join(expect)
    assert generated[-1] == "<eos>"
    rat = b.step_ids[i] >= 0
    np.testing.assert_allclose(b.weights[i][rat], weights[i], rtol=1e-6)
    valid = b.targets[i] > 0
    assert np.all(b.weights[i][~rat & valid] == 1.0) and np.all(b.weights[i][~valid] == 0.0)
    shifted = b.tokens[i, 1:] > 0  # the targets are the inputs shifted by one
    np.testing.assert_array_equal(b.tokens[i, 1:][shifted], b.targets[i, :-1][shifted])
  full = kpod.encode_student(tok, problems, max_len=128)
  assert full.loss_mask.sum() > b.loss_mask.sum()
  ans = kpod.encode_student(tok, problems, max_len=128, answer_only=True)
  assert np.all(ans.step_ids == -1)


def test_encode_errors(setup):
  problems, tok = setup
  with pytest.raises(ValueError, match=r"given_steps\[0\]=5 must lie in"):
    kpod.encode_student(tok, problems[:1], [5], max_len=128)
  with pytest.raises(ValueError, match="more than max_len"):
    kpod.encode_student(tok, problems, max_len=10)
  empty = kpod.MathProblem("q ?", (), "1")
  with pytest.raises(ValueError, match="empty rationale"):
    kpod.encode_student(tok, [empty], max_len=64)
  with pytest.raises(ValueError, match="over the limits"):
    kpod.encode_weighting(tok, problems, max_question=4, max_rationale=64)


class _CountUp(nnx.Module):
  """A fake causal LM that always predicts ``token + 1`` (``eos`` after 12)."""

  def __init__(self, vocab):
    self.vocab = vocab

  def __call__(self, tokens):
    nxt = jnp.where(tokens >= 12, 2, tokens + 1)
    return (nxt[..., None] == jnp.arange(self.vocab)).astype(jnp.float32)


def test_greedy_generate_decodes_each_row_from_its_own_prompt():
  model = _CountUp(20)
  out = kpod.greedy_generate(model, [[5], [9, 10], [1, 2, 3, 11]], max_len=10, eos_id=2)
  assert out[0] == [6, 7, 8, 9, 10, 11, 12, 2, 0]
  assert out[1] == [11, 12, 2, 0, 0, 0, 0, 0]
  assert out[2] == [12, 2, 0, 0, 0, 0]
  with pytest.raises(ValueError, match="leaves no room"):
    kpod.greedy_generate(model, [[1] * 10], max_len=10, eos_id=2)
