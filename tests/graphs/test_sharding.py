"""Padding keeps the real nodes' results; 8 sharded CPU devices give the 1-device result."""

import jax
import numpy as np
import pytest
from flax import nnx
from jax.sharding import AxisType
from jax.sharding import PartitionSpec as P

import graphs
from graphs import BackboneConfig, FreeKDConfig, NodeTrainConfig

needs_8 = pytest.mark.skipif(
  jax.device_count() < 8, reason="needs XLA_FLAGS=--xla_force_host_platform_device_count=8"
)


def test_pad_node_data_layout(tiny_graph):
  data = tiny_graph(n=30)
  e = data.graph.senders.shape[0]
  padded = graphs.pad_node_data(data, node_multiple=8, edge_multiple=8)
  g = padded.graph
  assert g.nodes.shape == (32, data.graph.nodes.shape[1])
  assert g.senders.shape[0] % 8 == 0 and g.senders.shape[0] >= e
  np.testing.assert_array_equal(padded.node_mask, [1.0] * 30 + [0.0] * 2)
  for mask in (padded.train_mask, padded.val_mask, padded.test_mask):
    assert np.asarray(mask)[30:].sum() == 0
  np.testing.assert_array_equal(np.asarray(g.edges)[e:], 0.0)  # padding edges removed
  assert np.all(np.asarray(g.senders)[e:] >= 30) and np.all(np.asarray(g.receivers)[e:] >= 30)
  # A node count already on the multiple still gets the one padding node jraph needs.
  assert graphs.pad_node_data(data, node_multiple=6).graph.nodes.shape[0] == 36


def test_pad_node_data_bad_arguments(tiny_graph):
  data = tiny_graph()
  with pytest.raises(ValueError, match="node_multiple must be a positive int"):
    graphs.pad_node_data(data, node_multiple=0)
  twice = graphs.pad_node_data(data)
  with pytest.raises(ValueError, match="data.graph must hold one graph"):
    graphs.pad_node_data(twice)


@pytest.mark.parametrize("backbone", ["gcn", "gat", "sage"])
def test_padding_keeps_real_node_outputs(backbone, tiny_graph):
  data = tiny_graph(n=30)
  padded = graphs.pad_node_data(data, node_multiple=16, edge_multiple=16)
  model = graphs.make_gnn(backbone, 6, data.num_classes, rngs=nnx.Rngs(0))
  ref, _ = model(data.graph)
  out, _ = model(jax.tree.map(jax.numpy.asarray, padded.graph))
  assert np.all(np.isfinite(np.asarray(out)))
  np.testing.assert_allclose(np.asarray(out)[:30], np.asarray(ref), rtol=1e-5, atol=1e-6)


def test_freekd_padding_leaves_the_objective_unchanged(tiny_graph):
  # Deterministic FreeKD (mutual directions, dropout off, node-wise prompts): every loss that
  # averages over nodes must count real nodes only, so padded training equals unpadded.
  data = tiny_graph(n=30)
  padded = graphs.pad_node_data(data, node_multiple=16, edge_multiple=16)
  cfg = FreeKDConfig(direction="mutual", warmup=0, prompt="nodewise", unlabeled_loss="pseudo")
  no_dropout = BackboneConfig(hidden=16, dropout=0.0, lr=0.01)

  def run(d):
    gnns = [
      graphs.make_gnn("gcn", 6, d.num_classes, rngs=nnx.Rngs(s), config=no_dropout) for s in (1, 2)
    ]
    return graphs.train_freekd(
      d, ("gcn", "gcn"), config=cfg, train_config=NodeTrainConfig(epochs=15), init_gnns=gnns
    )

  a, b = run(data), run(padded)
  for k in ("loss", "node_kd", "struct_kd", "val_acc"):
    np.testing.assert_allclose(a.history[k], b.history[k], rtol=2e-4, atol=1e-6, err_msg=k)
  assert a.test_acc == b.test_acc


@needs_8
def test_shard_node_data_places_nodes_and_edges_on_the_mesh(cora, tiny_graph):
  mesh = jax.make_mesh((8,), ("nodes",), axis_types=(AxisType.Auto,))
  sharded = graphs.shard_node_data(cora, mesh)
  n = cora.graph.nodes.shape[0]
  assert sharded.graph.nodes.shape[0] == -(-(n + 1) // 8) * 8
  for x in (sharded.graph.nodes, sharded.graph.senders, sharded.labels, sharded.node_mask):
    assert x.sharding.spec == P("nodes") and len(x.sharding.device_set) == 8
  assert sharded.graph.n_node.sharding.is_fully_replicated
  with pytest.raises(ValueError, match="axis 'data' is not an axis of the mesh"):
    graphs.shard_node_data(cora, mesh, axis="data")
  explicit = jax.make_mesh((8,), ("nodes",), axis_types=(AxisType.Explicit,))
  with pytest.raises(ValueError, match="must be AxisType.Auto"):
    graphs.shard_node_data(cora, explicit)
  # The default mesh: every device on one axis.
  assert graphs.shard_node_data(cora).labels.sharding.spec == P("nodes")


@needs_8
@pytest.mark.parametrize("backbone", ["gcn", "gat"])
def test_sharded_training_equals_one_device(backbone, tiny_graph):
  data = tiny_graph(n=60)
  mesh = jax.make_mesh((8,), ("nodes",), axis_types=(AxisType.Auto,))
  padded = graphs.pad_node_data(data, node_multiple=8, edge_multiple=8)
  sharded = graphs.shard_node_data(data, mesh)
  tc = NodeTrainConfig(epochs=25, patience=100)
  one = graphs.train_node_classifier(padded, backbone, seed=3, train_config=tc)
  many = graphs.train_node_classifier(sharded, backbone, seed=3, train_config=tc)
  for k in ("train_loss", "val_loss", "val_acc", "test_acc"):
    np.testing.assert_allclose(one.history[k], many.history[k], rtol=1e-4, atol=1e-6, err_msg=k)
  _, params = nnx.split(many.model, nnx.Param)
  assert all(p.sharding.is_fully_replicated for p in jax.tree.leaves(params))


@needs_8
def test_sharded_freekd_equals_one_device(tiny_graph):
  data = tiny_graph(n=60)
  mesh = jax.make_mesh((8,), ("nodes",), axis_types=(AxisType.Auto,))
  padded = graphs.pad_node_data(data, node_multiple=8, edge_multiple=8)
  sharded = graphs.shard_node_data(data, mesh)
  cfg = FreeKDConfig(warmup=2)
  tc = NodeTrainConfig(epochs=12, patience=100)
  one = graphs.train_freekd(padded, ("gcn", "sage"), config=cfg, train_config=tc, record_every=4)
  many = graphs.train_freekd(sharded, ("gcn", "sage"), config=cfg, train_config=tc, record_every=4)
  for k in ("loss", "val_acc", "share_sender", "reward"):
    np.testing.assert_allclose(
      one.history[k], many.history[k], rtol=1e-3, atol=1e-5, err_msg=k, equal_nan=True
    )
  assert [d["actions"].shape for d in many.decisions] == [(60,)] * 3
  for d1, d2 in zip(one.decisions, many.decisions, strict=True):
    np.testing.assert_array_equal(d1["actions"], d2["actions"])
