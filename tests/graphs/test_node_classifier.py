import jax
import numpy as np
import pytest
from flax import nnx

import graphs
from graphs import BackboneConfig, NodeTrainConfig, gnn_optimizer, make_gnn, train_node_classifier


def test_gcn_reproduces_public_split_on_cora(cora):
  """GCN on Cora (public split) over 3 seeds reaches >= 80.0% mean test accuracy."""
  accs = [train_node_classifier(cora, "gcn", seed=s).test_acc for s in range(3)]
  assert np.mean(accs) >= 0.80, accs


@pytest.mark.parametrize("backbone", ["gat", "sage"])
def test_other_backbones_learn(tiny, backbone):
  res = train_node_classifier(tiny, backbone, seed=0, train_config=NodeTrainConfig(30, 30))
  assert res.val_acc > 0.6 and set(res.history) >= {"train_loss", "val_acc", "test_acc"}


def test_training_is_deterministic(tiny):
  a, b = (
    train_node_classifier(tiny, "gcn", seed=4, train_config=NodeTrainConfig(10, 10))
    for _ in range(2)
  )
  np.testing.assert_array_equal(a.history["val_acc"], b.history["val_acc"])


def test_decay_mask_first_layer_only(tiny):
  model = make_gnn("gcn", 6, 3, rngs=nnx.Rngs(0))
  params = nnx.state(model, nnx.Param)
  tx = gnn_optimizer(BackboneConfig(lr=1.0, weight_decay=1.0, decay_first_layer_only=True))
  zeros = jax.tree.map(lambda p: p * 0.0, params)
  updates, _ = tx.update(zeros, tx.init(params), params)
  flat = dict(jax.tree_util.tree_flatten_with_path(updates)[0])
  for path, value in flat.items():
    name = jax.tree_util.keystr(path)
    if "kernel" not in name:  # biases start at zero, so their decay is zero either way
      continue
    assert (np.abs(np.asarray(value)).max() == 0.0) == ("conv1" not in name), name


def test_bad_inputs(tiny):
  with pytest.raises(ValueError, match=r"backbone must be one of \['gat', 'gcn', 'sage'\]"):
    make_gnn("gin", 6, 3, rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="epochs and patience must be >= 1"):
    NodeTrainConfig(epochs=0)


def test_optimizer_is_cached_per_config():
  """One transform object per config: the compiled step is reused across seeds."""
  cfg = BackboneConfig(lr=0.5)
  assert gnn_optimizer(cfg) is gnn_optimizer(BackboneConfig(lr=0.5))
  assert gnn_optimizer(cfg) is not gnn_optimizer(BackboneConfig(lr=0.25))


def test_best_epoch_selection(tiny):
  """The reported accuracies are those of the best-validation epoch (ties: lower val loss)."""
  res = train_node_classifier(tiny, "gcn", seed=1, train_config=NodeTrainConfig(25, 25))
  h = res.history
  assert set(h) == {"train_loss", "val_loss", "val_acc", "test_acc"}
  best = max(range(len(h["val_acc"])), key=lambda e: (h["val_acc"][e], -h["val_loss"][e], -e))
  assert res.best_epoch == best
  assert res.test_acc == h["test_acc"][best] and res.val_acc == h["val_acc"][best]


def test_deprecated_aliases_warn(tiny):
  with pytest.warns(DeprecationWarning, match="use graphs.NodeTrainConfig"):
    assert graphs.TrainConfig is NodeTrainConfig
  cfg = BackboneConfig()
  with pytest.warns(DeprecationWarning, match="use graphs.gnn_optimizer"):
    make_optimizer = graphs.make_optimizer
  assert make_optimizer(cfg, None) is gnn_optimizer(cfg)
  with pytest.raises(AttributeError, match="has no attribute 'nope'"):
    graphs.nope  # noqa: B018
