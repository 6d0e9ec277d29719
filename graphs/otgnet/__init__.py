"""OTGNet: class-incremental node classification on open temporal graphs.

Node memory with temporal attention over recent neighbours, a class-agnostic information
bottleneck for messages between classes (CLUB upper bound and MINE lower bound, each with its
own optimizer), and replay of selected closed/open triads with a pattern loss (Feng et al.,
ICLR 2023, arXiv:2303.15015). Baselines (finetune, joint, ER, EWC, LwF) and ablations share the
same code path through :class:`OTGNetConfig` and :data:`METHODS`.

Public API: :func:`train_otgnet`, :class:`OTGNetConfig`, :func:`method_config`, the data
(:func:`make_synth`, :func:`planetoid_stream`, :func:`load_otg_csv`, :func:`split_tasks`),
:func:`average_performance_forgetting`, and the triad helpers. Command:
``fira-jax graphs otgnet`` (:mod:`graphs.otgnet.cli`).
"""

from graphs.otgnet._config import METHODS, OTGNetConfig, method_config
from graphs.otgnet._data import (
  DATASETS,
  OTGData,
  TaskSplit,
  load_otg_csv,
  make_synth,
  planetoid_stream,
  split_tasks,
)
from graphs.otgnet._metrics import average_performance_forgetting
from graphs.otgnet._model import CLUB, MINE, IBMap, OTGNet, forward, init_memory
from graphs.otgnet._step import club_mi, club_nll, mine_lower_bound
from graphs.otgnet._train import train_otgnet, training_labels
from graphs.otgnet._triads import (
  Triads,
  coverage_radius,
  greedy_select,
  knn_pseudo_labels,
  triad_candidates,
)

__all__ = [
  "CLUB",
  "DATASETS",
  "IBMap",
  "METHODS",
  "MINE",
  "OTGData",
  "OTGNet",
  "OTGNetConfig",
  "TaskSplit",
  "Triads",
  "average_performance_forgetting",
  "club_mi",
  "club_nll",
  "coverage_radius",
  "forward",
  "greedy_select",
  "init_memory",
  "knn_pseudo_labels",
  "load_otg_csv",
  "make_synth",
  "method_config",
  "mine_lower_bound",
  "planetoid_stream",
  "split_tasks",
  "train_otgnet",
  "training_labels",
  "triad_candidates",
]
