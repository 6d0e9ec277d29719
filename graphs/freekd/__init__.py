"""FreeKD, FreeKD-Prompt and FreeKD++: GNNs that teach each other in free directions.

``K >= 2`` shallow GNNs are trained together. A node-level policy picks, for every node, which
network sends its soft label to the others; a structure-level policy decides whether the
sender's local structure around that node is transferred too. Both policies are trained with
REINFORCE on rewards measured after the networks' update (Feng et al., KDD 2022; FreeKD-Prompt
and FreeKD++: arXiv:2307.00534).

Public API: :func:`train_freekd` with :class:`FreeKDConfig`, the distillation losses, the
agent's policies, states and rewards, and the feature prompts. All names are also exported
from :mod:`graphs`. Command: ``fira-jax graphs freekd`` (:mod:`graphs.freekd.cli`).
"""

from graphs.freekd._agent import (
  Policy,
  neighbourhood_rewards,
  node_state,
  reinforce_loss,
  structure_state,
)
from graphs.freekd._config import FreeKDConfig
from graphs.freekd._losses import (
  local_structure_log_probs,
  pairwise_node_kl,
  pairwise_structure_kl,
)
from graphs.freekd._prompt import FeaturePrompt, diversity_loss
from graphs.freekd._train import FreeKDResult, train_freekd

__all__ = [
  "FeaturePrompt",
  "FreeKDConfig",
  "FreeKDResult",
  "Policy",
  "diversity_loss",
  "local_structure_log_probs",
  "neighbourhood_rewards",
  "node_state",
  "pairwise_node_kl",
  "pairwise_structure_kl",
  "reinforce_loss",
  "structure_state",
  "train_freekd",
]
