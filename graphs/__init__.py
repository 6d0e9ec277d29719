"""Graph neural networks on jraph ``GraphsTuple`` graphs and FreeKD (free-direction distillation).

Public API: the Planetoid loader, GCN/GAT/GraphSAGE NNX layers and models, a full-batch node
classifier (:func:`train_node_classifier` with :class:`NodeTrainConfig` and
:func:`gnn_optimizer`), padding and sharding a graph over a device mesh, and FreeKD
(:mod:`graphs.freekd`: :func:`train_freekd` for FreeKD, FreeKD-Prompt and FreeKD++, its losses,
agent and prompts, re-exported here).

``graphs.TrainConfig`` and ``graphs.make_optimizer`` are deprecated aliases of
:class:`NodeTrainConfig` and :func:`gnn_optimizer`.
"""

import warnings

from graphs._layers import (
  GATConv,
  GCNConv,
  SAGEConv,
  SparseFeatures,
  dropout,
  feature_support,
  gcn_edge_weights,
  project,
  sparse_dropout,
)
from graphs._models import BACKBONES, GAT, GCN, BackboneConfig, GraphSAGE, make_gnn
from graphs._node_classifier import (
  NodeTrainConfig,
  TrainResult,
  gnn_optimizer,
  masked_accuracy,
  masked_cross_entropy,
  train_node_classifier,
)
from graphs._planetoid import NodeData, download_planetoid, load_planetoid, random_split
from graphs._sharding import pad_node_data, shard_node_data
from graphs.freekd import (
  FeaturePrompt,
  FreeKDConfig,
  FreeKDResult,
  Policy,
  diversity_loss,
  local_structure_log_probs,
  neighbourhood_rewards,
  node_state,
  pairwise_node_kl,
  pairwise_structure_kl,
  reinforce_loss,
  structure_state,
  train_freekd,
)

__all__ = [
  "BACKBONES",
  "BackboneConfig",
  "FeaturePrompt",
  "FreeKDConfig",
  "FreeKDResult",
  "GAT",
  "GATConv",
  "GCN",
  "GCNConv",
  "GraphSAGE",
  "NodeData",
  "NodeTrainConfig",
  "Policy",
  "SAGEConv",
  "TrainResult",
  "diversity_loss",
  "download_planetoid",
  "dropout",
  "feature_support",
  "SparseFeatures",
  "sparse_dropout",
  "project",
  "gcn_edge_weights",
  "gnn_optimizer",
  "load_planetoid",
  "local_structure_log_probs",
  "make_gnn",
  "masked_accuracy",
  "masked_cross_entropy",
  "neighbourhood_rewards",
  "node_state",
  "pad_node_data",
  "pairwise_node_kl",
  "pairwise_structure_kl",
  "random_split",
  "reinforce_loss",
  "shard_node_data",
  "structure_state",
  "train_freekd",
  "train_node_classifier",
]


def _make_optimizer(config: BackboneConfig, params=None):
  """Deprecated: :func:`gnn_optimizer` (``params`` is no longer needed)."""
  del params  # the decay mask is now a function of the parameters
  return gnn_optimizer(config)


# old name -> (object, new name): kept for one minor release.
_DEPRECATED = {
  "TrainConfig": (NodeTrainConfig, "NodeTrainConfig"),
  "make_optimizer": (_make_optimizer, "gnn_optimizer"),
}


def __getattr__(name: str):
  if name in _DEPRECATED:
    obj, new = _DEPRECATED[name]
    warnings.warn(
      f"graphs.{name} is deprecated and will be removed in 0.3; use graphs.{new}",
      DeprecationWarning,
      stacklevel=2,
    )
    return obj
  raise AttributeError(f"module 'graphs' has no attribute {name!r}")
