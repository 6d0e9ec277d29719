"""The token weighting module on real (generated) rationales, in a small controlled run: digits
end above the filler, and the keep probabilities are traced per kind."""

import dataclasses

import numpy as np
import pytest

from distill import kpod


@pytest.fixture(scope="module")
def prep():
  problems = kpod.ProblemConfig(
    min_steps=1, max_steps=2, max_value=30, max_operand=9, num_distractors=0
  )
  cfg = dataclasses.replace(
    kpod.KPODConfig.smoke(),
    problems=problems,
    num_train=64,
    num_test=4,
    num_ood=4,
    weighting_pool=3000,
    weighting_steps=500,
    weighting_warmup=300,
    alpha=0.05,
    trace_every=100,
  ).keypoint_weighting(0.5)
  return kpod.prepare(cfg, 0, progress=False)


def test_digits_are_weighted_above_filler(prep):
  # The answer predictor reads the numbers (the final result above all) but cannot compute,
  # so `+ - *` and `=` are not ranked above the filler (benchmarks/results/distill/kpod.md).
  stats = prep.weight_stats
  # Measured: digits 0.551 (operand 0.548, result 0.560), `+ - *` 0.452, other 0.474.
  assert stats["digit"][0] > stats["other"][0] + 0.05
  assert min(stats["operand"][0], stats["result"][0]) > stats["other"][0] + 0.05


def test_trace_records_every_kind_along_training(prep):
  trace = prep.weight_trace
  assert [t["step"] for t in trace] == [0, 100, 200, 300, 400, 500]
  assert set(trace[0]) == {"step", *kpod.TRACE_KINDS}
  np.testing.assert_allclose(trace[0]["other"], 0.5, atol=0.05)  # the budget
  assert trace[-1]["digit"] == pytest.approx(prep.weight_stats["digit"][0], abs=0.1)


def test_hide_final_result_drops_only_the_answer_and_restore_puts_it_back():
  tok = kpod.problem_tokenizer()
  problems = kpod.generate_problems(40, seed=5)
  hidden = [kpod.hide_final_result(p) for p in problems]
  for p, h in zip(problems, hidden, strict=True):
    assert h.steps[:-1] == p.steps[:-1] and h.question == p.question and h.answer == p.answer
    last = h.steps[-1].split("=")
    assert last[-1].strip() == "." and not any(c.isdigit() for c in last[-1])
    assert h.steps[-1].replace(" = .", f" = {p.answer} .") == p.steps[-1]
  # Weights of the hidden rationales, restored: the final-result digits get `fill`, every
  # other token keeps its weight in order.
  sizes = [sum(len(tok.encode(s)) for s in h.steps) for h in hidden]
  weights = [np.arange(n, dtype=np.float32) / 100 for n in sizes]
  full = kpod.restore_final_result(tok, problems, weights, fill=7.0)
  for p, w, f in zip(problems, weights, full, strict=True):
    words = [tok.itos[i] for s in p.steps for i in tok.encode(s)]
    final = np.array([k == "final result" for k in kpod.token_kinds(words)])
    assert final.sum() == len(p.answer) and np.all(f[final] == 7.0)
    np.testing.assert_array_equal(f[~final], w)
  with pytest.raises(ValueError, match="do not fit"):
    kpod.restore_final_result(tok, problems[:1], [weights[0][:-1]])
  bare = kpod.MathProblem("q", ("no equation here .",), "3")
  assert kpod.hide_final_result(bare) == bare


def test_hidden_answer_switch_gives_the_final_result_weight_one():
  problems = kpod.ProblemConfig(min_steps=1, max_steps=2, num_distractors=0)
  cfg = dataclasses.replace(
    kpod.KPODConfig.smoke(),
    problems=problems,
    num_train=24,
    num_test=2,
    num_ood=2,
    weighting_steps=6,
    weighting_warmup=3,
    trace_every=3,
    weighting_val=8,
    weighting_select="whole",
    weighting_hide_answer=True,
  ).keypoint_weighting(0.5)
  prep = kpod.prepare(cfg, 0, progress=False)
  tok = prep.tok
  for p, w in zip(prep.train, prep.token_weights, strict=True):
    words = [tok.itos[i] for s in p.steps for i in tok.encode(s)]
    final = np.array([k == "final result" for k in kpod.token_kinds(words)])
    assert len(w) == len(words) and np.all(w[final] == 1.0) and np.all(w[~final] < 1.0)
  assert prep.weight_stats["final result"][:2] == (1.0, 0.0)
  # The module never saw a final result: the trace has no such kind.
  assert all("final result" not in t for t in prep.weight_trace)
