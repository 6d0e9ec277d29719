"""Scoring: Wilson intervals, binomial p-values, psychometric fits."""

import numpy as np
import pytest
import scipy.stats

import avprobe


def test_wilson_matches_scipy():
  for k, n in [(0, 10), (7, 10), (50, 100), (100, 100)]:
    ci = scipy.stats.binomtest(k, n).proportion_ci(method="wilson")
    assert avprobe.wilson_interval(k, n) == pytest.approx((ci.low, ci.high), abs=1e-9)


def test_binomial_pvalue():
  assert avprobe.binom_pvalue(10, 10, 0.5) == pytest.approx(0.5**10)
  assert avprobe.binom_pvalue(5, 10, 0.5) > 0.05


def test_threshold_recovers_a_logistic():
  rng = np.random.default_rng(0)
  deltas = np.repeat([0.5, 1, 2, 4, 8, 16], 200)
  p = 0.5 + 0.5 / (1 + np.exp(-(np.log(deltas) - np.log(3.0)) / 0.5))
  thr = avprobe.fit_threshold(deltas, rng.random(deltas.size) < p, n_boot=20)
  assert thr.value == pytest.approx(3.0, rel=0.15)
  assert thr.low < thr.value < thr.high


def test_threshold_statuses():
  d = np.repeat([1.0, 2.0], 10)
  assert avprobe.fit_threshold(d, np.ones(20, bool)).status == "< 1"
  assert avprobe.fit_threshold(d, np.zeros(20, bool)).value is None
  assert avprobe.fit_threshold(d, np.zeros(20, bool)).status == "none"
  with pytest.raises(ValueError, match="deltas"):
    avprobe.fit_threshold([0.0, 1.0], [True, False])


def test_report_table_has_a_row_per_task():
  items = avprobe.make_items(["loudness", "counting"], n_per_cell=2, sr=8000, duration=0.2)
  report = avprobe.score(items, avprobe.run_model(avprobe.oracle, items), n_boot=0)
  table = avprobe.report_table(report)
  assert table.count("\n") == 3 and "| counting | 16 | 1.000 |" in table
  assert report["tasks"]["counting"]["mae"] == 0.0


def test_score_checks_lengths():
  items = avprobe.make_items("loudness", n_per_cell=1, sr=8000, duration=0.1)
  with pytest.raises(ValueError, match="differ in length"):
    avprobe.score(items, ["A"])
