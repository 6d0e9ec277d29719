"""KPOD step difficulty, budget, submodular selection and the progressive schedule."""

import numpy as np
import pytest

from distill import kpod


def test_step_difficulty_matches_numpy():
  rng = np.random.default_rng(0)
  logp = -rng.random((2, 9))
  w = rng.random((2, 9))
  steps = np.array([[-1, 0, 0, 0, 1, 1, 2, -1, -1], [-1, -1, 0, 1, 1, 1, 1, 1, -1]])
  out = np.asarray(kpod.step_difficulty(logp, w, steps, num_steps=3))
  ref = np.zeros((2, 3))
  for b in range(2):
    for k in range(3):
      sel = steps[b] == k
      if sel.any():
        w_hat = np.exp(w[b, sel]) / np.exp(w[b, sel]).sum()
        ref[b, k] = -(w_hat * logp[b, sel]).sum()
  np.testing.assert_allclose(out, ref, rtol=1e-5)
  assert out[1, 2] == 0.0  # question 1 has two steps


def test_step_difficulty_errors():
  with pytest.raises(ValueError, match="empty rationale"):
    kpod.step_difficulty(np.zeros((2, 3)), np.ones((2, 3)), [[0, 1, -1], [-1, -1, -1]], num_steps=2)
  with pytest.raises(ValueError, match="same shape"):
    kpod.step_difficulty(np.zeros((2, 3)), np.ones((2, 4)), np.zeros((2, 3)), num_steps=2)


def test_difficulty_budget_formula_and_endpoints():
  total, t_max, p, c0 = 50.0, 4, 0.5, 0.3
  ts = np.arange(0, 6)
  out = np.asarray([kpod.difficulty_budget(t, total=total, num_stages=t_max) for t in ts])
  u = (total - c0 * total) * (p + 1) / t_max ** (p + 1)
  ref = u * np.minimum(ts, t_max) ** (p + 1) / (p + 1) + c0 * total
  np.testing.assert_allclose(out, ref, rtol=1e-5)
  assert out[0] == pytest.approx(15.0) and out[t_max] == pytest.approx(total)
  assert np.all(np.diff(out) >= 0)
  with pytest.raises(ValueError, match="num_stages must be >= 1"):
    kpod.difficulty_budget(1, total=1.0, num_stages=0)


def test_uniform_schedule_covers_last_k_steps_at_stage_k():
  n = np.array([1, 2, 3, 5])
  for k in range(1, 7):
    given = kpod.uniform_given_steps(n, k)
    np.testing.assert_array_equal(n - given, np.minimum(n, k))  # the last k steps generated
  np.testing.assert_array_equal(kpod.uniform_given_steps(n, 0), n - 1)


def test_kpod_schedule_is_monotone_and_reaches_the_full_rationale():
  rng = np.random.default_rng(1)
  n_steps = rng.integers(1, 6, 40)
  diffs = [rng.random(n) * 3 for n in n_steps]
  clusters = rng.integers(0, 5, 40)
  sched = kpod.KPODSchedule(diffs, clusters, num_stages=5)
  plan = np.stack([sched.given_steps(t) for t in range(8)])
  np.testing.assert_array_equal(plan[0], n_steps - 1)  # stage 0: only the last step generated
  assert np.all(np.diff(plan, axis=0) <= 0) and np.all(plan >= 0)
  np.testing.assert_array_equal(plan[5:], 0)  # from stage T on: the whole rationale
  assert np.any(plan[1] < plan[0]) and np.any(plan[2] > 0)  # it progresses gradually
  with pytest.raises(ValueError, match="empty rationale"):
    kpod.KPODSchedule([np.ones(2), np.ones(0)], [0, 1], num_stages=2)
  with pytest.raises(ValueError, match="clusters must have shape"):
    kpod.KPODSchedule([np.ones(2)], [0, 1], num_stages=2)


def test_value_function_prefers_diverse_questions():
  rng = np.random.default_rng(2)
  centers = rng.normal(size=(3, 8)) * 10
  # 4 near-duplicate questions around each of 3 topics.
  emb = np.concatenate([c + 0.01 * rng.normal(size=(4, 8)) for c in centers])
  clusters = kpod.kmeans(emb, 3, seed=0)
  assert len(set(clusters[:4])) == len(set(clusters[4:8])) == len(set(clusters[8:])) == 1
  assert len(set(clusters)) == 3
  gains = np.full(12, 1.0)
  dup = np.zeros(12, bool)
  dup[:3] = True  # three near-duplicates
  diverse = np.zeros(12, bool)
  diverse[[0, 4, 8]] = True  # one per topic
  f_dup = kpod.submodular_value(dup, gains, clusters, 3.0)
  f_div = kpod.submodular_value(diverse, gains, clusters, 3.0)
  assert f_div > f_dup
  np.testing.assert_allclose(f_div - f_dup, 12.0 * (3 - np.sqrt(3)))
  chosen = kpod.greedy_select(gains, clusters, 3.0)
  assert chosen.sum() == 3 and len(set(clusters[chosen])) == 3


def test_greedy_select_respects_budget_and_eligibility():
  rng = np.random.default_rng(3)
  gains = rng.random(30) * 4
  clusters = rng.integers(0, 4, 30)
  eligible = rng.random(30) > 0.3
  chosen = kpod.greedy_select(gains, clusters, 10.0, eligible=eligible)
  assert gains[chosen].sum() <= 10.0 + 1e-9
  assert not np.any(chosen & ~eligible)
  # Nothing left out would still fit.
  left = eligible & ~chosen
  assert not np.any(gains[left] <= 10.0 - gains[chosen].sum())
  with pytest.raises(ValueError, match="gains must be >= 0"):
    kpod.greedy_select(-gains, clusters, 1.0)
