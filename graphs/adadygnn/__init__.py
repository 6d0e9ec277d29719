"""Ada-DyGNN (AdaNet): robust knowledge adaptation for dynamic graphs.

After each interaction a memory-based temporal GNN updates the two endpoints and, through a
Bernoulli policy per neighbour trained with self-critical REINFORCE on a local-structure
stability reward, decides which of their most recent neighbours to update as well (Li et al.,
"Robust Knowledge Adaptation for Dynamic Graph Neural Networks", arXiv 2207.10839).

Public API:

* data: :func:`load_college_msg` (UCI messages), :func:`load_official_csv`
  (``ml_<name>.csv`` + ``.npy``), :func:`make_temporal_data` (arrays),
  :func:`chronological_split` (:class:`TemporalSplit`, with ``split_sizes()``),
  :func:`inject_noise` (``insert``, ``delete``, ``noisy_nodes``);
* metrics: :func:`ranking_metrics` (MRR, Recall@k), :func:`auc_ap`,
  :func:`stability_reward` (``paper`` and ``official`` forms);
* model and training: :class:`AdaDyGNNConfig`, :class:`AdaDyGNN`, :func:`policy_loss`,
  :func:`train_adadygnn`.
"""

from graphs.adadygnn._config import POLICIES, AdaDyGNNConfig
from graphs.adadygnn._data import (
  COLLEGE_MSG_SHA256,
  COLLEGE_MSG_URL,
  NOISE_KINDS,
  TemporalData,
  TemporalSplit,
  check_noise,
  chronological_split,
  download_college_msg,
  inject_noise,
  load_college_msg,
  load_official_csv,
  make_temporal_data,
)
from graphs.adadygnn._metrics import (
  REWARD_FORMS,
  auc_ap,
  pair_ranks,
  ranking_metrics,
  stability_reward,
)
from graphs.adadygnn._model import (
  AdaDyGNN,
  Batch,
  Policy,
  forward,
  link_loss,
  policy_loss,
  reinforce_side,
)
from graphs.adadygnn._train import EVAL_SETS, train_adadygnn

__all__ = [
  "AdaDyGNN",
  "AdaDyGNNConfig",
  "Batch",
  "COLLEGE_MSG_SHA256",
  "COLLEGE_MSG_URL",
  "EVAL_SETS",
  "NOISE_KINDS",
  "POLICIES",
  "Policy",
  "REWARD_FORMS",
  "TemporalData",
  "TemporalSplit",
  "auc_ap",
  "check_noise",
  "chronological_split",
  "download_college_msg",
  "forward",
  "inject_noise",
  "link_loss",
  "load_college_msg",
  "load_official_csv",
  "make_temporal_data",
  "pair_ranks",
  "policy_loss",
  "ranking_metrics",
  "reinforce_side",
  "stability_reward",
  "train_adadygnn",
]
