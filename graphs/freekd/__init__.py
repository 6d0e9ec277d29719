"""FreeKD, FreeKD-Prompt and FreeKD++: GNNs that teach each other in free directions.

``K >= 2`` shallow GNNs are trained together. A node-level policy picks, for every node, which
network sends its soft label to the others; a structure-level policy decides whether the
sender's local structure around that node is transferred too. Both policies are trained with
REINFORCE on rewards measured after the networks' update (Feng et al., KDD 2022; FreeKD-Prompt
and FreeKD++: arXiv:2307.00534).

Public API: :func:`train_freekd` with :class:`FreeKDConfig` (``direction="mutual"`` is deep
mutual learning, ``"oracle"`` an upper bound of the direction policy), the distillation
losses, the agent's policies, states and rewards, the policy diagnostics
(:func:`direction_diagnostics`), the feature prompts, and the baseline FreeKD is compared
against: classic KD from a deeper teacher (:func:`train_teacher`, :class:`DeepResidualGCN`,
:func:`train_student_kd`, :func:`kd_loss`). All names are also exported
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
from graphs.freekd._teacher import (
  DeepResidualGCN,
  KDResult,
  TeacherConfig,
  kd_loss,
  train_student_kd,
  train_teacher,
)
from graphs.freekd._train import FreeKDResult, direction_diagnostics, train_freekd

__all__ = [
  "DeepResidualGCN",
  "FeaturePrompt",
  "FreeKDConfig",
  "FreeKDResult",
  "KDResult",
  "Policy",
  "TeacherConfig",
  "direction_diagnostics",
  "diversity_loss",
  "kd_loss",
  "local_structure_log_probs",
  "neighbourhood_rewards",
  "node_state",
  "pairwise_node_kl",
  "pairwise_structure_kl",
  "reinforce_loss",
  "structure_state",
  "train_freekd",
  "train_student_kd",
  "train_teacher",
]
