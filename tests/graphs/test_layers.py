import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from graphs import (
  GATConv,
  GCNConv,
  SAGEConv,
  dropout,
  feature_support,
  gcn_edge_weights,
  make_gnn,
  sparse_dropout,
)
from graphs._layers import segment_log_softmax


def _dense_adjacency(g, n):
  a = np.zeros((n, n))  # a[r, s] = weight of edge s -> r
  np.add.at(a, (np.asarray(g.receivers), np.asarray(g.senders)), np.asarray(g.edges, np.float64))
  return a


def test_gcn_matches_float64_dense(tiny):
  g, n = tiny.graph, tiny.graph.nodes.shape[0]
  layer = GCNConv(6, 4, rngs=nnx.Rngs(0))
  a = _dense_adjacency(g, n)
  d = a.sum(1)
  a_hat = a / np.sqrt(np.outer(d, d))
  x = np.asarray(g.nodes, np.float64)
  w = np.asarray(layer.linear.kernel[...], np.float64)
  np.testing.assert_allclose(layer(g.nodes, g), a_hat @ x @ w, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(
    gcn_edge_weights(g, n), a_hat[np.asarray(g.receivers), np.asarray(g.senders)], rtol=1e-5
  )


def test_zero_weight_edge_is_removed(tiny):
  g = tiny.graph
  n = g.nodes.shape[0]
  non_loop = np.flatnonzero(np.asarray(g.senders) != np.asarray(g.receivers))
  dropped = g._replace(edges=g.edges.at[non_loop[::2]].set(0.0))
  keep = np.asarray(dropped.edges) > 0
  pruned = g._replace(edges=g.edges[keep], senders=g.senders[keep], receivers=g.receivers[keep])
  for layer in (
    GCNConv(6, 4, rngs=nnx.Rngs(1)),
    GATConv(6, 2, heads=2, rngs=nnx.Rngs(1)),
    SAGEConv(6, 4, rngs=nnx.Rngs(1)),
  ):
    np.testing.assert_allclose(layer(g.nodes, dropped), layer(g.nodes, pruned), atol=1e-5)
  assert n == 30


def test_gat_matches_float64(tiny):
  g, n = tiny.graph, tiny.graph.nodes.shape[0]
  layer = GATConv(6, 3, heads=2, rngs=nnx.Rngs(2))
  x = np.asarray(g.nodes, np.float64)
  h = (x @ np.asarray(layer.linear.kernel[...], np.float64)).reshape(n, 2, 3)
  a_src, a_dst = (np.asarray(p[...], np.float64) for p in (layer.att_src, layer.att_dst))
  s, r = np.asarray(g.senders), np.asarray(g.receivers)
  expected = np.zeros((n, 2, 3))
  for i in range(n):
    nbrs = s[r == i]
    e = (h[nbrs] * a_src).sum(-1) + (h[i] * a_dst).sum(-1)
    e = np.where(e > 0, e, 0.2 * e)
    att = np.exp(e - e.max(0)) / np.exp(e - e.max(0)).sum(0)
    expected[i] = (att[..., None] * h[nbrs]).sum(0)
  np.testing.assert_allclose(layer(g.nodes, g), expected.reshape(n, 6), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("out_features", [4, 8])  # project-then-aggregate and the reverse
def test_sage_mean_excludes_self_loops(tiny, out_features):
  g, n = tiny.graph, tiny.graph.nodes.shape[0]
  layer = SAGEConv(6, out_features, rngs=nnx.Rngs(3))
  x = np.asarray(g.nodes, np.float64)
  s, r = np.asarray(g.senders), np.asarray(g.receivers)
  agg = np.zeros_like(x)
  for i in range(n):
    nbrs = s[(r == i) & (s != i)]
    if len(nbrs):
      agg[i] = x[nbrs].mean(0)
  w_self = np.asarray(layer.self_linear.kernel[...], np.float64)
  b = np.asarray(layer.self_linear.bias[...], np.float64)
  w_n = np.asarray(layer.neigh_linear.kernel[...], np.float64)
  np.testing.assert_allclose(layer(g.nodes, g), x @ w_self + b + agg @ w_n, rtol=1e-4, atol=1e-5)


def test_dropout_rate_scale_and_determinism():
  x = jnp.ones((200, 100))
  key = jax.random.key(0)
  y = dropout(x, 0.5, key)
  kept = np.asarray(y) > 0
  assert abs(kept.mean() - 0.5) < 0.02
  np.testing.assert_allclose(np.asarray(y)[kept], 2.0)
  np.testing.assert_array_equal(y, dropout(x, 0.5, key))
  np.testing.assert_array_equal(dropout(x, 0.5, None), x)
  with pytest.raises(ValueError, match="dropout rate must be in"):
    dropout(x, 1.0, key)


def test_segment_log_softmax_matches_numpy():
  logits = jnp.asarray([1.0, 2.0, 3.0, -1.0, 0.5])
  seg = jnp.asarray([0, 0, 1, 1, 1])
  out = np.asarray(segment_log_softmax(logits, seg, 3))
  ref = np.concatenate(
    [
      np.log(np.exp([1.0, 2.0]) / np.exp([1.0, 2.0]).sum()),
      np.log(np.exp([3.0, -1.0, 0.5]) / np.exp([3.0, -1.0, 0.5]).sum()),
    ]
  )
  np.testing.assert_allclose(out, ref, rtol=1e-6)


def test_padding_with_jraph_keeps_real_node_outputs(tiny):
  """Graphs padded with ``jraph.pad_with_graphs`` (static buckets) give the same outputs."""
  import jraph

  g = tiny.graph
  n, e = int(g.n_node[0]), int(g.n_edge[0])
  padded = jraph.pad_with_graphs(g, n_node=n + 10, n_edge=e + 16, n_graph=2)
  assert padded.nodes.shape[0] == n + 10 and float(padded.edges[e:].sum()) == 0.0
  for layer in (
    GCNConv(6, 4, rngs=nnx.Rngs(5)),
    GATConv(6, 2, heads=2, rngs=nnx.Rngs(5)),
    SAGEConv(6, 4, rngs=nnx.Rngs(5)),
  ):
    np.testing.assert_allclose(layer(padded.nodes, padded)[:n], layer(g.nodes, g), atol=1e-5)


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.6])
@pytest.mark.parametrize("raw_key", [False, True])
def test_dropout_on_support_equals_dense_dropout(rate, raw_key):
  """Drawing bytes only for the nonzero entries gives the dense mask's output, bit for bit."""
  rng = np.random.default_rng(0)
  x = ((rng.random((37, 53)) < 0.05) * rng.random((37, 53))).astype(np.float32)
  support = feature_support(x)
  assert support is not None and support.shape == (int((x != 0).sum()),)
  key = jax.random.PRNGKey(3) if raw_key else jax.random.fold_in(jax.random.key(5), 7)
  dense = dropout(jnp.asarray(x), rate, key)
  jitted = jax.jit(lambda x, k, s: dropout(x, rate, k, support=s))
  np.testing.assert_array_equal(np.asarray(jitted(jnp.asarray(x), key, support)), dense)


def test_feature_support_only_for_sparse_features():
  assert feature_support(np.ones((4, 4), np.float32)) is None
  np.testing.assert_array_equal(feature_support(np.eye(8, dtype=np.float32)), np.arange(8) * 9)


def test_sparse_dropout_is_the_dense_dropout():
  rng = np.random.default_rng(1)
  x = ((rng.random((19, 41)) < 0.05) * rng.random((19, 41))).astype(np.float32)
  key = jax.random.key(2)
  sparse = sparse_dropout(jnp.asarray(x), 0.5, key, feature_support(x))
  np.testing.assert_array_equal(sparse.todense(), dropout(jnp.asarray(x), 0.5, key))


def test_models_with_feature_support_match_the_dense_models(cora):
  """The sparse first layer gives the dense models' logits and gradients up to rounding."""
  data = cora.with_feature_support()
  assert data.feature_support is not None
  key = jax.random.key(0)
  for backbone in ("gcn", "gat", "sage"):
    model = make_gnn(backbone, data.graph.nodes.shape[1], data.num_classes, rngs=nnx.Rngs(0))

    def loss(m, support):
      return jnp.sum(m(data.graph, key=key, feature_support=support)[0] ** 2)

    (dense, g_dense), (sparse, g_sparse) = (
      nnx.value_and_grad(loss)(model, s) for s in (None, data.feature_support)
    )
    np.testing.assert_allclose(sparse, dense, rtol=1e-5)
    for a, b in zip(jax.tree.leaves(g_sparse), jax.tree.leaves(g_dense), strict=True):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
