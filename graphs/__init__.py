"""Graph neural networks on jraph ``GraphsTuple``s and FreeKD (free-direction distillation).

Public API: the Planetoid loader, GCN/GAT/GraphSAGE NNX layers and models, a full-batch node
classification trainer, padding and sharding a graph over a device mesh, the FreeKD losses and
agent, and :func:`train_freekd` for FreeKD, FreeKD-Prompt and FreeKD++.
"""

from graphs._agent import (
  Policy,
  neighbourhood_rewards,
  node_state,
  reinforce_loss,
  structure_state,
)
from graphs._freekd import FreeKDConfig, FreeKDResult, train_freekd
from graphs._kd import local_structure_log_probs, pairwise_node_kl, pairwise_structure_kl
from graphs._layers import GATConv, GCNConv, SAGEConv, dropout, gcn_edge_weights
from graphs._models import BACKBONES, GAT, GCN, BackboneConfig, GraphSAGE, make_gnn
from graphs._planetoid import NodeData, download_planetoid, load_planetoid, random_split
from graphs._prompt import FeaturePrompt, diversity_loss
from graphs._sharding import pad_node_data, shard_node_data
from graphs._train import (
  TrainConfig,
  TrainResult,
  make_optimizer,
  masked_accuracy,
  masked_cross_entropy,
  train_node_classifier,
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
  "Policy",
  "SAGEConv",
  "TrainConfig",
  "TrainResult",
  "diversity_loss",
  "download_planetoid",
  "dropout",
  "gcn_edge_weights",
  "load_planetoid",
  "local_structure_log_probs",
  "make_gnn",
  "make_optimizer",
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
