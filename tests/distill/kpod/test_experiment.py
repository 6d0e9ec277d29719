"""KPOD end to end with the project's LLaMA in a smoke config."""

import dataclasses

import numpy as np
import pytest
from flax import nnx

from distill import kpod


@pytest.fixture(scope="module")
def run():
  # Two-step problems without distractors keep sequences (and greedy decoding) short.
  problems = kpod.ProblemConfig(min_steps=2, max_steps=2, num_distractors=0)
  cfg = dataclasses.replace(
    kpod.KPODConfig.smoke(),
    problems=problems,
    num_train=64,
    epochs=3,
    num_test=4,
    num_ood=4,
    curve_size=4,
  )
  prep = kpod.prepare(cfg, 0, progress=False)
  return cfg, prep, kpod.train_method("kpod", prep, cfg, 0, progress=False)


def test_short_kpod_run_lowers_the_weighted_loss(run):
  cfg, prep, result = run
  losses = np.asarray(result["losses"])
  assert np.all(np.isfinite(losses))
  assert losses[-3:].mean() < 0.9 * losses[:3].mean()
  assert len(result["curve"]) == cfg.epochs
  assert 0.0 <= result["accuracy"] <= 1.0 and 0.0 <= result["ood_accuracy"] <= 1.0
  # The schedule starts by generating only the last step and ends on the whole rationale.
  frac = result["generated_fraction"]
  assert frac[0] < 1.0 and frac[-1] == 1.0 and np.all(np.diff(frac) >= 0)


def test_prepared_weights_and_schedules(run):
  _, prep, _ = run
  for p, w in zip(prep.train, prep.token_weights, strict=True):
    assert len(w) == sum(len(prep.tok.encode(s)) for s in p.steps)
    assert np.all((w > 0) & (w < 1))
  # The per-kind statistics cover every rationale token once and match a recomputation.
  stats = prep.weight_stats
  kinds = ("operand", "result", "final result", "operator", "other")
  assert sum(stats[k][2] for k in kinds if k in stats) == sum(len(w) for w in prep.token_weights)
  assert stats["digit"][2] == sum(stats[k][2] for k in kinds[:3] if k in stats)
  digits = [
    x
    for p, w in zip(prep.train, prep.token_weights, strict=True)
    for word, x in zip(
      [prep.tok.itos[i] for s in p.steps for i in prep.tok.encode(s)], w, strict=True
    )
    if word.isdigit()
  ]
  np.testing.assert_allclose(stats["digit"][0], np.mean(digits), rtol=1e-6)
  # The trained module is kept and gives back the weights (inputs padded as recorded).
  max_q, max_r = prep.weighting_lengths
  batch = kpod.encode_weighting(prep.tok, prep.train[:4], max_question=max_q, max_rationale=max_r)
  again = prep.weighting_module.keep_probabilities(batch.rationale, batch.rationale_mask)
  for row, w in zip(np.asarray(again), prep.token_weights[:4], strict=True):
    np.testing.assert_allclose(row[: len(w)], w, rtol=1e-5)
  for sched in (prep.kpod_schedule, prep.uniform_schedule):
    np.testing.assert_array_equal(sched.given_steps(0), sched.num_steps - 1)
    np.testing.assert_array_equal(sched.given_steps(sched.num_stages), 0)


def test_experiment_errors(run):
  cfg, prep, _ = run
  with pytest.raises(ValueError, match="method must be one of"):
    kpod.train_method("bogus", prep, cfg, 0)
  with pytest.raises(TypeError, match="no nnx.Embed attribute"):
    kpod.embedding_table(nnx.Linear(2, 2, rngs=nnx.Rngs(0)))


def test_weighting_select_errors(run):
  cfg, _, _ = run
  with pytest.raises(ValueError, match="weighting_select must be"):
    kpod.prepare(dataclasses.replace(cfg, weighting_select="best"), 0, progress=False)
  with pytest.raises(ValueError, match="needs weighting_val"):
    kpod.prepare(dataclasses.replace(cfg, weighting_select="any"), 0, progress=False)


def test_token_kinds_split_digits_by_role():
  words = "sam has 3 + 4 = 7 . then 7 * 2 = 14 .".split()
  kinds = kpod.token_kinds(words)
  assert [k for w, k in zip(words, kinds, strict=True) if w.isdigit()] == [
    "operand",
    "operand",
    "result",
    "operand",
    "operand",
    "final result",
  ]
  assert kinds[words.index("+")] == "operator" and kinds[words.index("=")] == "operator"
  assert kinds[words.index("then")] == "other" and kinds[-1] == "other"
