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
