import jax.numpy as jnp
import numpy as np
import pytest

import graphs.adadygnn as ada

EMB = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [-1.0, 0.0]])


def test_ranking_hand_example():
  # edge (0, 2): cos to row 0 = [1, .995, 0, -1] -> node 2 is 3rd (2nd without self);
  # cos to row 2 = [0, .0995, 1, 0] -> node 0 is 3rd (row 3 ties with it but comes later)
  res = ada.ranking_metrics(EMB, [0], [2], ks=(2, 3))
  assert res["mrr"] == pytest.approx(1 / 3)
  assert res["recall"] == {2: 0.0, 3: 1.0}
  res = ada.ranking_metrics(EMB, [0], [2], ks=(2, 3), exclude_self=True)
  assert res["mrr"] == pytest.approx(1 / 2)
  assert res["recall"] == {2: 1.0, 3: 1.0}


def test_ranking_ties_and_two_edges():
  # edge (2, 3): for row 2, node 3 ties with node 0 at cos 0 and node 0 (lower index) comes
  # first -> rank 4; for row 3, node 2 is 2nd.
  ranks = np.asarray(ada.pair_ranks(jnp.asarray(EMB), jnp.array([0, 2]), jnp.array([2, 3])))
  np.testing.assert_array_equal(ranks, [[3, 3], [4, 2]])
  res = ada.ranking_metrics(EMB, [0, 2], [2, 3], ks=(2,))
  assert res["mrr"] == pytest.approx(np.mean([1 / 3, 1 / 3, 1 / 4, 1 / 2]))
  assert res["recall"][2] == pytest.approx(0.25)


def test_ranking_candidates():
  res = ada.ranking_metrics(EMB, [0], [2], ks=(2,), candidates=np.array([1, 0, 1, 1], bool))
  assert res["mrr"] == pytest.approx(np.mean([1 / 2, 1 / 2]))  # row 1 never counts


def test_ranking_bad_inputs():
  with pytest.raises(ValueError, match="equal-length"):
    ada.ranking_metrics(EMB, [0, 1], [2])
  with pytest.raises(ValueError, match="edge ids"):
    ada.ranking_metrics(EMB, [0], [4])
  with pytest.raises(ValueError, match=r"\[N, d\]"):
    ada.ranking_metrics(EMB[0], [0], [0])


CENTER = np.array([[1.0, 0.0], [0.0, 1.0]])
NEIGH = np.array([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 2.0], [-1.0, 0.0]]])


def _cos(a, b):
  return a @ b / np.linalg.norm(a) / np.linalg.norm(b)


def test_stability_reward_paper_form():
  # cosines: centre 0 with [1, 0] and [0, 1] -> 1, 0; centre 1 with [0, 2], [-1, 0] -> 1, 0
  assert float(ada.stability_reward(CENTER, NEIGH, "paper")) == pytest.approx(0.5)
  mask = np.array([[1.0, 0.0], [1.0, 1.0]])
  assert float(ada.stability_reward(CENTER, NEIGH, "paper", mask)) == pytest.approx(2 / 3)


def test_stability_reward_official_form():
  # every (centre row, neighbour row) pair of the batch, each centre repeated k times
  rows_c = np.repeat(CENTER, 2, axis=0)
  rows_n = NEIGH.reshape(4, 2)
  full = np.mean([[_cos(p, q) for q in rows_n] for p in rows_c])
  assert full == pytest.approx(0.25)
  assert float(ada.stability_reward(CENTER, NEIGH, "official")) == pytest.approx(full)
  mask = np.array([[1.0, 1.0], [1.0, 0.0]])
  keep = mask.ravel() > 0
  masked = np.mean([[_cos(p, q) for q in rows_n[keep]] for p in rows_c[keep]])
  assert float(ada.stability_reward(CENTER, NEIGH, "official", mask)) == pytest.approx(masked)


def test_stability_reward_bad_inputs():
  with pytest.raises(ValueError, match="form must be one of"):
    ada.stability_reward(CENTER, NEIGH, "batch")
  with pytest.raises(ValueError, match="need center"):
    ada.stability_reward(CENTER, NEIGH[0])


def test_auc_ap_hand_and_sklearn():
  auc, ap = ada.auc_ap([0.9, 0.4], [0.5, 0.1])
  assert auc == pytest.approx(0.75)
  assert ap == pytest.approx((1 + 2 / 3) / 2)
  metrics = pytest.importorskip("sklearn.metrics")
  rng = np.random.default_rng(0)
  pos, neg = rng.integers(0, 5, 40) / 4, rng.integers(0, 4, 30) / 4  # many ties
  y = np.r_[np.ones(40), np.zeros(30)]
  auc, ap = ada.auc_ap(pos, neg)
  assert auc == pytest.approx(metrics.roc_auc_score(y, np.r_[pos, neg]))
  assert ap == pytest.approx(metrics.average_precision_score(y, np.r_[pos, neg]))
  with pytest.raises(ValueError, match="at least one"):
    ada.auc_ap([], [0.1])
