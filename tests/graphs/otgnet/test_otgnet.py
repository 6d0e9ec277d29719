import dataclasses
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from graphs.otgnet import (
  CLUB,
  average_performance_forgetting,
  club_mi,
  club_nll,
  greedy_select,
  load_otg_csv,
  make_synth,
  planetoid_stream,
  train_otgnet,
  training_labels,
)
from graphs.otgnet._model import IBMap, OTGNet, forward, init_memory

DATA = pathlib.Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "planetoid"
SYNTH_SHA = "b26f61cbb1c712bd627a8547e6d2b2d87fade0216654ebed63d75bad200856eb"


def test_synth_deterministic_and_recorded_hash():
  a, b = make_synth(0), make_synth(0)
  assert a.sha256 == b.sha256 == SYNTH_SHA
  assert make_synth(1).sha256 != SYNTH_SHA
  assert len(a.stream) == 12000 and np.bincount(a.edge_task).tolist() == [4000] * 3


@pytest.mark.skipif(not DATA.exists(), reason="no Planetoid data")
def test_planetoid_stream_tasks_and_time_order():
  d = planetoid_stream("cora", DATA, seed=0)
  assert np.all(np.diff(d.stream.t) >= 0)
  assert np.bincount(d.edge_task).tolist() == [975, 2368, 1530]
  assert d.stream.num_nodes == 2528 and d.node_labels.max() == 5
  later = d.stream.t[:, None] >= 0
  assert later.all()


def test_ap_af_hand_matrix():
  acc = np.array([[0.9, np.nan, np.nan], [0.7, 0.8, np.nan], [0.6, 0.85, 0.5]])
  ap, af = average_performance_forgetting(acc)
  assert ap == pytest.approx((0.6 + 0.85 + 0.5) / 3)
  assert af == pytest.approx(((0.9 - 0.6) + (0.85 - 0.85)) / 2)
  with pytest.raises(ValueError):
    average_performance_forgetting(np.zeros((2, 3)))


def test_greedy_selection_hand_example():
  emb = np.array([[0.0], [0.1], [0.2], [5.0]])
  imp = np.array([1.0, 0.9, 0.8, 0.1])
  # importance only: the top two
  np.testing.assert_array_equal(greedy_select(imp, emb, 2, 0.0, 1.0), [0, 1])
  # diversity: after 0 covers {0,1,2}, the far point 3 wins over 1 (0.1 + 20*1/4 > 0.9)
  np.testing.assert_array_equal(greedy_select(imp, emb, 2, 20.0, 1.0), [0, 3])


def _tiny_forward_inputs(labels):
  rngs = jax.random.key(0)
  from flax import nnx

  r = nnx.Rngs(0)
  model = OTGNet(4, 8, 5, 8, 2, 2, rngs=r)
  g = IBMap(8, rngs=r)
  mem = init_memory(rngs, 6, 8)
  ctx = {"features": jnp.ones((7, 4)), "labels": jnp.asarray(labels)}
  b = {
    "src": jnp.array([1, 2]),
    "dst": jnp.array([3, 4]),
    "mask": jnp.ones(2),
    "src_label": jnp.asarray(labels)[jnp.array([1, 2])],
    "dst_label": jnp.asarray(labels)[jnp.array([3, 4])],
    "snap_ids": jnp.array([99]),
    "snap_vals": jnp.zeros((1, 8)),
  }
  for side in ("src", "dst"):
    b[f"{side}_nbr"] = jnp.array([[5, 6], [5, 0]])
    b[f"{side}_dt"] = jnp.ones((2, 2))
    b[f"{side}_nmask"] = jnp.array([[1.0, 1.0], [1.0, 0.0]])
  model.eval()
  return model, g, mem, ctx, b


def test_ib_replacement_touches_only_cross_class_pairs():
  labels = np.array([-1, 0, 0, 0, 1, 0, 1])  # node 5 class 0, node 6 class 1
  model, g, mem, ctx, b = _tiny_forward_inputs(labels)
  out = forward(
    model, g, mem, ctx, b, use_ib=True, ib_on_message=False, mask_padding=True, store_size=100
  )
  stored = np.asarray(out.store_mask).sum()
  # cross pairs: (1, 6), (3, 6), (4, 5); centre 2 sees only 5 (same class), padding never counts
  assert stored == 3
  assert set(np.asarray(out.store_y)[np.asarray(out.store_mask)].tolist()) == {0, 1}
  # same labels everywhere: nothing replaced, identical to no IB
  same = np.where(labels >= 0, 0, -1)
  model, g, mem, ctx, b = _tiny_forward_inputs(same)
  o1 = forward(
    model, g, mem, ctx, b, use_ib=True, ib_on_message=True, mask_padding=True, store_size=100
  )
  o2 = forward(
    model, g, mem, ctx, b, use_ib=False, ib_on_message=True, mask_padding=True, store_size=100
  )
  assert not np.asarray(o1.store_mask).any()
  np.testing.assert_allclose(o1.memory, o2.memory, atol=1e-6)


def test_club_estimate_falls_when_labels_shuffled():
  rng = np.random.default_rng(0)
  y = rng.integers(0, 3, 400)
  z = jnp.asarray(np.eye(3)[y] * 3 + 0.1 * rng.standard_normal((400, 3)), jnp.float32)
  import optax
  from flax import nnx

  club = CLUB(3, 3, rngs=nnx.Rngs(0))
  opt = nnx.Optimizer(club, optax.adam(1e-2), wrt=nnx.Param)
  y1 = jax.nn.one_hot(jnp.asarray(y), 3)
  mask = jnp.ones(400)
  for _ in range(200):
    grads = nnx.grad(lambda c: club_nll(*c(z), y1, mask))(club)
    opt.update(club, grads)
  perm = jnp.asarray(rng.permutation(400))
  aligned = float(club_mi(*club(z), y1, y1[perm], mask))
  y_shuf = y1[jnp.asarray(rng.permutation(400))]
  shuffled = float(club_mi(*club(z), y_shuf, y_shuf[perm], mask))
  assert aligned > shuffled + 0.5


def test_no_test_label_reaches_training_and_short_run_lowers_loss(small, tiny_cfg):
  d, splits = small
  cfg = tiny_cfg
  lab = training_labels(d, splits, 1)
  for k, sp in enumerate(splits):
    scored = sp.test_inductive[d.node_labels[sp.test_inductive] // d.n_class == k]
    assert (lab[scored] == -1).all()
  r1 = train_otgnet(d, cfg, seed=0, epochs=3, splits=splits)
  assert r1["triads"] and {"task", "class", "kind", "nodes", "real"} <= set(r1["triads"][0])
  # flip the labels of the scored test nodes: the training losses are unchanged
  flipped = d.node_labels.copy()
  for k, sp in enumerate(splits):
    scored = sp.test_inductive[d.node_labels[sp.test_inductive] // d.n_class == k]
    flipped[scored] = k * d.n_class + (flipped[scored] + 1) % d.n_class
  r2 = train_otgnet(
    dataclasses.replace(d, node_labels=flipped), cfg, seed=0, epochs=3, splits=splits
  )
  np.testing.assert_allclose(r1["loss"], r2["loss"], rtol=1e-5)
  assert r1["loss"][0][-1] < r1["loss"][0][0]
  assert np.isnan(r1["acc"][0][1]) and 0 <= r1["ap"] <= 1


def test_bad_inputs(tmp_path):
  from graphs.otgnet.cli import load_dataset

  with pytest.raises(ValueError, match="dataset must be one of"):
    load_dataset("reddit", None, 0)
  with pytest.raises(FileNotFoundError, match="not found"):
    load_otg_csv(tmp_path / "x.csv", tmp_path / "x.npy", n_class=2, n_task=1)
  (tmp_path / "d.csv").write_text("u,i,ts,label_u,label_i,idx\n1,2,1.0,0,0,1\n2,3,2.0,0,0,2\n")
  np.save(tmp_path / "d.npy", np.zeros((4, 3)))
  with pytest.raises(ValueError, match=r"class\(es\) \[1\] have no nodes"):
    load_otg_csv(tmp_path / "d.csv", tmp_path / "d.npy", n_class=2, n_task=1)
  (tmp_path / "d.csv").write_text("u,i,ts,label_u,label_i,idx\n1,2,1.0,0,1,1\n2,3,2.0,1,0,2\n")
  data = load_otg_csv(tmp_path / "d.csv", tmp_path / "d.npy", n_class=2, n_task=1)
  assert len(data.stream) == 2 and data.features.shape == (4, 3)
  with pytest.raises(ValueError, match="method must be one of"):
    from graphs.otgnet import method_config

    method_config("nope")
