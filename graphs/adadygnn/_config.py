"""Ada-DyGNN settings."""

from __future__ import annotations

import dataclasses

__all__ = ["AdaDyGNNConfig", "POLICIES"]

POLICIES = ("learned", "all", "none", "random")


@dataclasses.dataclass(frozen=True)
class AdaDyGNNConfig:
  """Model, reward and training settings (defaults: the official code's, with its quirks
  fixed where a switch says so).

  Attributes:
    policy: which neighbours are updated after an interaction: learned (Bernoulli policy
      trained by REINFORCE), all, none, or random (each with probability 1/2).
    memory_dim: node memory size d.
    message_dim: attention message size (W_g: d -> message_dim).
    num_neighbors: k, most recent neighbours used by aggregation and propagation.
    dropout: dropout rate on the attention inputs (training only).
    gamma: time damping phi = 1 / (1 + gamma (t - t_j) / T), T the last timestamp.
    learning_rate: Adam step size (all parameters).
    batch_size: training batch (and MRR evaluation batch) size.
    auc_batch_size: batch size of the AUC/AP evaluation stream.
    entropy_weight: weight of the entropy bonus in the policy loss.
    entropy: official (only -p log p) or bernoulli (the full Bernoulli entropy).
    reward: paper (mean cosine over centre/neighbour pairs) or official (mean of the full
      batch cosine matrix, cross pairs included).
    policy_sides: both (policy loss of the source and destination side) or dst_only (the
      official code's accumulator bug).
    mask_padding: padded neighbour slots get no attention or update and row 0 is never
      ranked (False: the official code, where row 0 is an ordinary node).
  """

  policy: str = "learned"
  memory_dim: int = 64
  message_dim: int = 32
  num_neighbors: int = 20
  dropout: float = 0.5
  gamma: float = 1.0
  learning_rate: float = 1e-4
  batch_size: int = 16
  auc_batch_size: int = 30
  entropy_weight: float = 0.1
  entropy: str = "official"
  reward: str = "paper"
  policy_sides: str = "both"
  mask_padding: bool = True

  def __post_init__(self):
    choices = {
      "policy": POLICIES,
      "entropy": ("official", "bernoulli"),
      "reward": ("paper", "official"),
      "policy_sides": ("both", "dst_only"),
    }
    for name, allowed in choices.items():
      if getattr(self, name) not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {getattr(self, name)!r}")
    for name in ("memory_dim", "message_dim", "num_neighbors", "batch_size", "auc_batch_size"):
      if getattr(self, name) < 1:
        raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
    if not 0 <= self.dropout < 1:
      raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")
    if self.learning_rate <= 0:
      raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
