"""Closed-loop scores: route completion × infraction penalty with CARLA's coefficients."""

import numpy as np
import pytest

from distill import plankd
from distill.plankd._sim import EpisodeResult


def _episode(seed, progress, collisions=0, offroad=0, **kw):
  return EpisodeResult(seed, progress, collisions, offroad, False, False, 10, 20.0, **kw)


def test_driving_score_uses_carla_penalties():
  eps = [_episode(1, 300.0, collisions=1), _episode(2, 700.0), _episode(3, 150.0, offroad=1)]
  m = plankd.driving_metrics(eps, 600.0)
  rc = np.array([0.5, 1.0, 0.25])
  ip = np.array([0.60, 1.0, 0.65])
  assert m["driving_score"] == pytest.approx(100 * np.mean(rc * ip))
  assert m["route_completion"] == pytest.approx(100 * rc.mean())
  assert m["infraction_penalty"] == pytest.approx(ip.mean())
  assert m["collision_rate"] == pytest.approx(100 / 3)
  assert m["collisions_per_km"] == pytest.approx(1 / 1.15)
  assert m["offroad"] == 1 and m["episodes"] == 3


def test_report_pairs_plankd_with_alone_by_test_episode():
  from distill.plankd._report import render_report

  def run(method, seed, ds):
    return {
      "method": method,
      "seed": seed,
      "settings": {"size": "S-S", "params": 206_845},
      "metrics": {"driving_score": float(np.mean(list(ds.values()))), "episode_ds": ds},
    }

  runs = [
    run("alone", 0, {"1": 10.0, "2": 20.0, "3": 30.0}),
    run("plankd", 0, {"1": 15.0, "2": 22.0, "3": 40.0}),
  ]
  text = render_report(runs, title="t")
  assert "## S-S (206,845 parameters)" in text
  assert "| S-S | PlanKD (P) − alone | +5.7 [" in text
  # a seed only one side has is left out of the pair; missing runs are listed
  runs += [
    run("plankd_fix", 0, {"1": 11.0, "2": 21.0, "3": 31.0}),
    run("plankd_fix", 1, {"1": 99.0, "2": 99.0, "3": 99.0}),
  ]
  expected = [("plankd_fix", "S-S", 2), ("output_kd", "S-S", 0), ("alone", "S-S", 0)]
  text = render_report(runs, title="t", expected=expected)
  assert "| S-S | PlanKD + plain L1, feasible margin − alone | +1.0 [" in text
  assert "| S-S | PlanKD + plain L1, feasible margin − PlanKD (P) | -4.7 [" in text
  assert "| 3 | +1.0 | 1 |" in text  # by training seed: only seed 0 is shared
  assert "- PlanKD + plain L1, feasible margin S-S: seeds 2" in text
  assert "- output KD (B2) S-S: seeds 0" in text and "student alone (B1) S-S" not in text
