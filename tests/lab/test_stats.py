"""Statistics over seeds, against direct float64 recomputation."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from fira_jax.lab import stats


def test_mean_std_population_and_sample():
  x = [0.80, 0.82, 0.85, 0.79]
  assert stats.mean_std(x) == pytest.approx((np.mean(x), np.std(x)))
  assert stats.mean_std(x, ddof=1)[1] == pytest.approx(np.std(x, ddof=1))
  assert stats.mean_std([1.0], ddof=1) == (1.0, 0.0)
  assert stats.fmt_pm([0.8, 0.9], scale=100, digits=1) == "85.0 ± 5.0"


def test_paired_delta_matches_the_t_interval():
  rng = np.random.default_rng(0)
  a = rng.normal(1.0, 1.0, 10)
  b = a - rng.normal(0.3, 0.2, 10)
  d = stats.paired_delta(a, b)
  diff = a - b
  half = sps.t.ppf(0.975, 9) * diff.std(ddof=1) / math.sqrt(10)
  assert d.mean == pytest.approx(diff.mean())
  assert (d.low, d.high) == pytest.approx((diff.mean() - half, diff.mean() + half))
  # The interval agrees with scipy's paired t-test: 0 is inside it iff p >= 0.05.
  p = sps.ttest_rel(a, b).pvalue
  assert (d.low <= 0 <= d.high) == (p >= 0.05)
  assert d.fmt(1).startswith(f"{diff.mean():+.1f} [")


def test_paired_by_key_pairs_only_shared_seeds():
  d = stats.paired_by_key({0: 1.0, 1: 2.0, 2: 5.0}, {1: 1.0, 2: 4.0, 3: 9.0})
  assert d.n == 2 and d.mean == pytest.approx(1.0)
  assert stats.paired_by_key({0: 1.0}, {1: 1.0}) is None
  one = stats.paired_delta([2.0], [1.0])
  assert one.n == 1 and math.isnan(one.low) and one.fmt() == "+1.00"


def test_bad_inputs_are_named():
  with pytest.raises(ValueError, match="pair up"):
    stats.paired_delta([1.0, 2.0], [1.0])
  with pytest.raises(ValueError, match="values must be a non-empty"):
    stats.mean_std([])
  with pytest.raises(ValueError, match="confidence"):
    stats.paired_delta([1.0], [1.0], confidence=1.5)
