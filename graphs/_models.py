"""Two-layer node classifiers (GCN, GAT, GraphSAGE) and their standard hyper-parameters."""

from __future__ import annotations

import dataclasses

import jax
import jraph
from flax import nnx

from graphs._layers import GATConv, GCNConv, SAGEConv, dropout, sparse_dropout

__all__ = ["GCN", "GAT", "GraphSAGE", "BackboneConfig", "BACKBONES", "make_gnn"]


@dataclasses.dataclass(frozen=True)
class BackboneConfig:
  """Architecture and optimiser defaults of a backbone (public-split settings).

  Attributes:
    hidden: hidden width (GAT: units per head).
    dropout: feature dropout rate.
    lr: Adam learning rate.
    weight_decay: L2 coefficient (added to the gradient, as in the original papers).
    decay_first_layer_only: Kipf & Welling decay only the first layer.
    heads: GAT attention heads in the hidden layer.
  """

  hidden: int = 64
  dropout: float = 0.5
  lr: float = 0.01
  weight_decay: float = 5e-4
  decay_first_layer_only: bool = False
  heads: int = 8


BACKBONES: dict[str, BackboneConfig] = {
  "gcn": BackboneConfig(hidden=64, dropout=0.5, lr=0.01, decay_first_layer_only=True),
  "gat": BackboneConfig(hidden=8, dropout=0.6, lr=0.005, heads=8),
  "sage": BackboneConfig(hidden=64, dropout=0.5, lr=0.01),
}


class _TwoLayer(nnx.Module):
  """Shared forward pass: dropout -> conv1 -> act -> dropout -> conv2."""

  def __init__(self, dropout: float):
    self.dropout_rate = dropout

  def _drop(self, x: jax.Array, key: jax.Array | None) -> jax.Array:
    return dropout(x, self.dropout_rate, key)

  def _layer1(self, x, graph, key):  # ReLU hidden layer (GCN, SAGE); GAT overrides
    return jax.nn.relu(self.conv1(x, graph))

  def _layer2(self, x, graph, key):
    return self.conv2(x, graph)

  def __call__(
    self,
    graph: jraph.GraphsTuple,
    *,
    key: jax.Array | None = None,
    feature_support: jax.Array | None = None,
  ) -> tuple[jax.Array, jax.Array]:
    """Returns ``(logits [N, C], hidden [N, H])``; dropout is on iff ``key`` is given.

    ``feature_support`` (the sorted flat indices of ``graph.nodes``' nonzero entries,
    :func:`~graphs.feature_support`) makes the first layer sparse (:func:`sparse_dropout`): the
    same dropout mask, the same function up to float rounding, several times cheaper on
    bag-of-words features."""
    keys = jax.random.split(key, 4) if key is not None else [None] * 4
    if feature_support is None:
      x = dropout(graph.nodes, self.dropout_rate, keys[0])
    else:
      x = sparse_dropout(graph.nodes, self.dropout_rate, keys[0], feature_support)
    hidden = self._layer1(x, graph, keys[1])
    logits = self._layer2(self._drop(hidden, keys[2]), graph, keys[3])
    return logits, hidden


class GCN(_TwoLayer):
  """Two-layer GCN: :math:`Z = \\hat A\\,\\mathrm{ReLU}(\\hat A X W_1) W_2`."""

  def __init__(
    self,
    in_features: int,
    num_classes: int,
    *,
    hidden: int = 64,
    dropout: float = 0.5,
    rngs: nnx.Rngs,
  ):
    super().__init__(dropout)
    self.conv1 = GCNConv(in_features, hidden, rngs=rngs)
    self.conv2 = GCNConv(hidden, num_classes, rngs=rngs)


class GAT(_TwoLayer):
  """Two-layer GAT: ``heads`` x ``hidden`` ELU hidden layer, one-head output layer."""

  def __init__(
    self,
    in_features: int,
    num_classes: int,
    *,
    hidden: int = 8,
    heads: int = 8,
    dropout: float = 0.6,
    rngs: nnx.Rngs,
  ):
    super().__init__(dropout)
    self.conv1 = GATConv(in_features, hidden, heads=heads, attention_dropout=dropout, rngs=rngs)
    self.conv2 = GATConv(
      hidden * heads, num_classes, heads=1, concat=False, attention_dropout=dropout, rngs=rngs
    )

  def _layer1(self, x, graph, key):
    return jax.nn.elu(self.conv1(x, graph, key=key))

  def _layer2(self, x, graph, key):
    return self.conv2(x, graph, key=key)


class GraphSAGE(_TwoLayer):
  """Two-layer GraphSAGE-mean with a ReLU hidden layer."""

  def __init__(
    self,
    in_features: int,
    num_classes: int,
    *,
    hidden: int = 64,
    dropout: float = 0.5,
    rngs: nnx.Rngs,
  ):
    super().__init__(dropout)
    self.conv1 = SAGEConv(in_features, hidden, rngs=rngs)
    self.conv2 = SAGEConv(hidden, num_classes, rngs=rngs)


def make_gnn(
  backbone: str,
  in_features: int,
  num_classes: int,
  *,
  rngs: nnx.Rngs,
  config: BackboneConfig | None = None,
) -> nnx.Module:
  """Builds a two-layer ``"gcn"``, ``"gat"`` or ``"sage"`` classifier.

  Args:
    backbone: the architecture name.
    in_features: ``F``.
    num_classes: ``C``.
    rngs: parameter initialisation stream.
    config: overrides :data:`BACKBONES` ``[backbone]``.

  Returns:
    A module mapping a ``GraphsTuple`` to ``(logits [N, C], hidden [N, H])``.
  """
  if backbone not in BACKBONES:
    raise ValueError(f"backbone must be one of {sorted(BACKBONES)}, got {backbone!r}")
  cfg = config or BACKBONES[backbone]
  if backbone == "gcn":
    return GCN(in_features, num_classes, hidden=cfg.hidden, dropout=cfg.dropout, rngs=rngs)
  if backbone == "gat":
    return GAT(
      in_features, num_classes, hidden=cfg.hidden, heads=cfg.heads, dropout=cfg.dropout, rngs=rngs
    )
  return GraphSAGE(in_features, num_classes, hidden=cfg.hidden, dropout=cfg.dropout, rngs=rngs)
