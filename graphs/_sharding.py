"""Padding and sharding a node-classification dataset over a device mesh.

Full-batch training shards the graph, not the parameters: node arrays (features, labels, masks)
are split along the node axis and edge arrays (senders, receivers, weights) along the edge
axis over one mesh axis, parameters stay replicated, and ``jax.jit`` partitions the gathers
and ``segment_sum``s (XLA SPMD inserts the collectives). Both axes must be divisible by the
number of shards, so the graph is first padded with jraph's padding graph: extra nodes with
zero features, no label and no split membership, extra edges of weight zero between padding
nodes (a zero weight removes an edge in every layer). ``NodeData.node_mask`` marks the real
nodes so that losses averaged over all nodes (FreeKD's) ignore the padding.
"""

from __future__ import annotations

import jax
import jraph
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from graphs._planetoid import NodeData

__all__ = ["pad_node_data", "shard_node_data"]


def _round_up(n: int, multiple: int) -> int:
  return -(-n // multiple) * multiple


def pad_node_data(data: NodeData, *, node_multiple: int = 1, edge_multiple: int = 1) -> NodeData:
  """Pads ``data`` so that its node and edge counts are multiples of the given numbers.

  Uses :func:`jraph.pad_with_graphs`: at least one padding node is added (jraph's padding
  graph needs one), padding edges have weight zero and join padding nodes only, and the padded
  nodes get zero features, label 0 and zero ``train/val/test`` masks. ``node_mask`` is 1 on
  the original nodes and 0 on the padding; a model evaluated on the padded graph gives the
  same outputs on the original nodes.

  Args:
    data: the dataset (one graph).
    node_multiple: the padded node count ``N'`` is the smallest multiple of this ``> N``.
    edge_multiple: the padded edge count ``E'`` is the smallest multiple of this ``>= E``.

  Returns:
    The padded :class:`~graphs.NodeData` (host-backed arrays, not yet placed on devices).
  """
  for name, value in (("node_multiple", node_multiple), ("edge_multiple", edge_multiple)):
    if not isinstance(value, int) or value < 1:
      raise ValueError(f"{name} must be a positive int, got {value!r}")
  graph = data.graph
  if graph.n_node.shape[0] != 1:
    raise ValueError(
      f"data.graph must hold one graph (n_node of shape (1,)), got {graph.n_node.shape}"
    )
  n, e = int(graph.nodes.shape[0]), int(graph.senders.shape[0])
  n_pad, e_pad = _round_up(n + 1, node_multiple), _round_up(e, edge_multiple)
  graph = jraph.GraphsTuple(**{k: jax.device_get(v) for k, v in graph._asdict().items()})
  padded = jraph.pad_with_graphs(graph, n_pad, e_pad, n_graph=2)

  def pad(x, dtype=None):
    x = np.asarray(x, dtype)
    return np.concatenate([x, np.zeros((n_pad - n,) + x.shape[1:], x.dtype)])

  real = np.ones(n, np.float32) if data.node_mask is None else data.node_mask
  return NodeData(
    graph=padded._replace(
      senders=padded.senders.astype(np.int32), receivers=padded.receivers.astype(np.int32)
    ),
    labels=pad(data.labels, np.int32),
    train_mask=pad(data.train_mask, np.float32),
    val_mask=pad(data.val_mask, np.float32),
    test_mask=pad(data.test_mask, np.float32),
    num_classes=data.num_classes,
    node_mask=pad(real, np.float32),
  )


def _put(x, sharding: NamedSharding) -> jax.Array:
  """Places a host array that every process holds in full (multi-host safe)."""
  x = np.asarray(x)
  return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])


def shard_node_data(data: NodeData, mesh: Mesh | None = None, *, axis: str = "nodes") -> NodeData:
  """Pads ``data`` (see :func:`pad_node_data`) and shards it over ``mesh`` axis ``axis``.

  Node arrays ``[N', ...]`` and edge arrays ``[E']`` are split along their first axis over the
  ``axis`` devices (replicated over the mesh's other axes); ``n_node``/``n_edge`` are
  replicated. Pass the result to :func:`~graphs.train_node_classifier` or
  :func:`~graphs.train_freekd` unchanged: parameters are created replicated and the compiled
  steps follow the data's sharding. On several hosts every process must call this with the
  same full dataset (each keeps only its devices' shards).

  Args:
    data: the dataset.
    mesh: the device mesh (default: all devices on one ``Auto`` axis named ``axis``); the
      ``axis`` must be of type ``AxisType.Auto``.
    axis: the mesh axis to shard nodes and edges over.

  Returns:
    The padded :class:`~graphs.NodeData` with ``jax.Array`` leaves placed on ``mesh``.
  """
  if mesh is None:
    mesh = jax.make_mesh((jax.device_count(),), (axis,), axis_types=(AxisType.Auto,))
  if axis not in mesh.shape:
    raise ValueError(f"axis {axis!r} is not an axis of the mesh (axes {tuple(mesh.shape)})")
  if dict(zip(mesh.axis_names, mesh.axis_types, strict=True))[axis] != AxisType.Auto:
    raise ValueError(
      f"mesh axis {axis!r} must be AxisType.Auto (the compiled steps let XLA partition the "
      "gathers); build the mesh with jax.make_mesh(..., axis_types=(AxisType.Auto, ...))"
    )
  shards = mesh.shape[axis]
  data = pad_node_data(data, node_multiple=shards, edge_multiple=shards)
  split, replicated = NamedSharding(mesh, P(axis)), NamedSharding(mesh, P())
  g = data.graph
  graph = g._replace(
    nodes=_put(g.nodes, split),
    edges=_put(g.edges, split),
    senders=_put(g.senders, split),
    receivers=_put(g.receivers, split),
    n_node=_put(g.n_node, replicated),
    n_edge=_put(g.n_edge, replicated),
    globals=None if g.globals is None else jax.tree.map(lambda x: _put(x, replicated), g.globals),
  )
  return data._replace(
    graph=graph,
    **{
      k: _put(getattr(data, k), split)
      for k in ("labels", "train_mask", "val_mask", "test_mask", "node_mask")
    },
  )
