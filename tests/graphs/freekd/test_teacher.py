"""Classic KD from a deep teacher, DML, the oracle direction and the policy diagnostics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from graphs import FreeKDConfig, NodeTrainConfig, train_freekd
from graphs.freekd import (
  DeepResidualGCN,
  TeacherConfig,
  direction_diagnostics,
  kd_loss,
  train_student_kd,
  train_teacher,
)


def _kd_reference(student, teacher, tau, mask):
  """The KD loss in float64 numpy."""
  s, t = np.asarray(student, np.float64) / tau, np.asarray(teacher, np.float64) / tau
  logp_s = (
    s - np.log(np.exp(s - s.max(-1, keepdims=True)).sum(-1, keepdims=True)) - s.max(-1)[:, None]
  )
  logp_t = (
    t - np.log(np.exp(t - t.max(-1, keepdims=True)).sum(-1, keepdims=True)) - t.max(-1)[:, None]
  )
  kl = (np.exp(logp_t) * (logp_t - logp_s)).sum(-1)
  return tau**2 * (kl * mask).sum() / mask.sum()


@pytest.mark.parametrize("tau", [1.0, 2.0, 4.0])
def test_kd_loss_matches_float64(tau):
  rng = np.random.default_rng(0)
  student, teacher = rng.normal(size=(2, 50, 7)) * 3
  mask = (rng.random(50) < 0.6).astype(np.float32)
  got = kd_loss(jnp.asarray(student, jnp.float32), jnp.asarray(teacher, jnp.float32),
                temperature=tau, node_mask=jnp.asarray(mask))  # fmt: skip
  assert float(got) == pytest.approx(_kd_reference(student, teacher, tau, mask), rel=1e-5)
  same = kd_loss(jnp.asarray(teacher, jnp.float32), jnp.asarray(teacher, jnp.float32))
  assert float(same) == pytest.approx(0.0, abs=1e-6)


def test_kd_loss_gradient_reaches_student_only():
  s, t = jnp.ones((4, 3)), jnp.arange(12.0).reshape(4, 3)
  gs, gt = jax.grad(lambda a, b: kd_loss(a, b, temperature=2.0), argnums=(0, 1))(s, t)
  assert float(jnp.abs(gs).sum()) > 0 and float(jnp.abs(gt).sum()) == 0


def test_kd_loss_errors():
  with pytest.raises(ValueError, match="temperature must be > 0"):
    kd_loss(jnp.ones((2, 3)), jnp.ones((2, 3)), temperature=0.0)
  with pytest.raises(ValueError, match="one shape"):
    kd_loss(jnp.ones((2, 3)), jnp.ones((2, 4)))


def test_teacher_config_errors():
  with pytest.raises(ValueError, match="deeper than the 2-layer"):
    TeacherConfig(layers=2)
  with pytest.raises(ValueError, match="dropout in"):
    TeacherConfig(dropout=1.0)


def test_teacher_is_deeper_and_student_learns(tiny):
  cfg = TeacherConfig(layers=4, hidden=16, dropout=0.0)
  model = DeepResidualGCN(6, 3, cfg, rngs=nnx.Rngs(0))
  logits, hidden = model(tiny.graph)
  assert logits.shape == (30, 3) and hidden.shape == (30, 16) and len(model.convs) == 4
  tc = NodeTrainConfig(epochs=40, patience=40)
  teacher = train_teacher(tiny, config=cfg, train_config=tc, seed=0)
  assert teacher.layers == 4 > 2 and teacher.logits.shape == (30, 3)
  assert teacher.val_acc > 0.5
  student = train_student_kd(tiny, teacher.logits, "gcn", mu=2.0, temperature=2.0, train_config=tc)
  assert student.layers == 2 < teacher.layers and 0.0 <= student.test_acc <= 1.0
  # with mu = 0 the teacher is ignored: the same run whatever the teacher says
  a = train_student_kd(tiny, teacher.logits, "gcn", mu=0.0, train_config=tc)
  b = train_student_kd(tiny, np.zeros((30, 3)), "gcn", mu=0.0, train_config=tc)
  assert a.test_acc == b.test_acc and np.allclose(a.logits, b.logits)


def test_student_kd_errors(tiny):
  with pytest.raises(ValueError, match=r"teacher_logits must be \[N, C\]"):
    train_student_kd(tiny, np.zeros((30, 4)))
  with pytest.raises(ValueError, match="backbone must be one of"):
    train_student_kd(tiny, np.zeros((30, 3)), "mlp")
  with pytest.raises(ValueError, match="need mu >= 0"):
    train_student_kd(tiny, np.zeros((30, 3)), mu=-1.0)


def test_direction_diagnostics():
  correct = np.array([[1, 0, 1, 1, 0], [0, 1, 1, 0, 0]], np.float32)
  actions = np.array([0, 0, 1, 1, 0])
  masks = {"train": np.array([1, 1, 1, 0, 0]), "val": np.array([0, 0, 0, 1, 1])}
  d = direction_diagnostics(actions, correct, masks)
  # train: nodes 0 and 1 are contested, the sender is right on node 0 only
  assert d["right_sender_train"] == 0.5 and d["contested_train"] == pytest.approx(2 / 3)
  assert d["right_sender_val"] == 0.0 and d["contested_val"] == 0.5


def test_dml_trains_no_policy(tiny):
  tc = NodeTrainConfig(epochs=6, patience=6)
  dml = FreeKDConfig(direction="mutual", structure="none", rho=0.0, warmup=1)
  res = train_freekd(tiny, ("gcn", "gcn"), config=dml, train_config=tc)
  assert np.all(np.isnan(res.history["reward"]))  # no policy is trained
  assert set(res.history) >= {"right_sender_train", "right_sender_val", "contested_val"}


def test_oracle_sends_from_lower_loss_on_training_nodes(tiny):
  from graphs.freekd._step import sample_actions

  rng = np.random.default_rng(1)
  losses = jnp.asarray(rng.random((2, 30)), jnp.float32) * tiny.train_mask
  probs = jax.nn.softmax(jnp.asarray(rng.normal(size=(2, 30, 3)), jnp.float32), -1)
  cache = {"probs": probs, "losses": losses, "hidden": None}
  cfg = FreeKDConfig(direction="oracle", structure="all")
  dec = sample_actions(None, cache, tiny, jax.random.key(0), cfg)
  train = np.asarray(tiny.train_mask) > 0
  expected = np.argmin(np.asarray(losses), 0)
  assert np.array_equal(np.asarray(dec["a"])[train], expected[train])
  assert set(np.asarray(dec["a"])[~train].tolist()) == {0, 1}  # uniform elsewhere


def test_structure_term_is_skipped_when_it_is_zero(tiny, monkeypatch):
  from graphs.freekd import _step

  def boom(*args, **kwargs):
    raise AssertionError("the structure KL was computed")

  assert _step._transfers_structure(FreeKDConfig())  # FreeKD itself computes it
  tc = NodeTrainConfig(epochs=3, patience=3)
  dml = FreeKDConfig(direction="mutual", structure="none", rho=0.0, warmup=1)
  try:
    _step.gnn_loss_fn.cache_clear()
    with monkeypatch.context() as m:
      m.setattr(_step, "_transfers_structure", lambda cfg: True)  # computed, weighted by 0
      before = train_freekd(tiny, ("gcn", "gcn"), config=dml, train_config=tc)
    _step.gnn_loss_fn.cache_clear()
    monkeypatch.setattr(_step, "pairwise_structure_kl", boom)
    after = train_freekd(tiny, ("gcn", "gcn"), config=dml, train_config=tc)
    assert after.test_acc == before.test_acc  # same numbers without the zero term
    np.testing.assert_array_equal(after.history["struct_kd"], 0.0)
  finally:
    _step.gnn_loss_fn.cache_clear()
