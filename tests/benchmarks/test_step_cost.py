"""benchmarks/step_cost.py: XLA's static cost of one step, the check of a fused-path change."""

import pathlib
import sys

import pytest

BENCH = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def step_cost():
  sys.path.insert(0, str(BENCH))  # step_cost imports gpu_suite as its sibling
  try:
    import step_cost

    yield step_cost.step_cost
  finally:
    sys.path.remove(str(BENCH))


def test_fira_costs_more_than_galore_more_than_adamw_and_never_transposes(step_cost):
  """On the smoke layer: the projection's matmuls are the FLOPs (≈ 4·rank per parameter, one
  projection and one back-projection), and Fira's fused residual adds passes over the gradient
  but no second back-projection."""
  adamw, galore, fira = (step_cost(n, "llama_60m") for n in ("adamw", "galore", "fira_svd"))
  assert adamw["bytes"] < galore["bytes"] < fira["bytes"]
  rank = 128  # PAPER_RANKS["llama_60m"]
  assert 4 * rank <= galore["flops"] < 4 * rank + 100
  assert fira["flops"] < 1.3 * galore["flops"]  # one back-projection, not two
