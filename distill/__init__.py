"""Distillation losses as pure functions of arrays (one module per method), and KPOD
(keypoint-based progressive CoT distillation) end to end in :mod:`distill.kpod`.

``__all__`` lists the losses. KPOD's names are also reachable from ``distill`` (``distill.kpod``
is loaded on first use), so ``distill.KPODConfig`` and ``distill.prepare`` keep working.
"""

import importlib
import warnings

from distill._annealing_kd import annealing_kd_loss, annealing_kd_objective, annealing_temperature
from distill._continuation_kd import continuation_kd_loss
from distill._hidden_state import LinearFilters, hidden_state_loss
from distill._kd import (
  cross_entropy,
  kd_loss,
  kl_divergence_from_logits,
  label_smoothing_loss,
  smooth_labels,
  symmetric_kl_from_logits,
  token_kd_loss,
)
from distill._moebert import moebert_loss
from distill._pro_kd import pro_kd_loss, pro_kd_temperature
from distill._rw_kd import reweighted_kd_loss, rw_kd_meta_gradient
from distill._ted import ted_loss
from distill._universal_kd import universal_kd_loss

__all__ = [
  "LinearFilters",
  "annealing_kd_loss",
  "annealing_kd_objective",
  "annealing_temperature",
  "continuation_kd_loss",
  "cross_entropy",
  "hidden_state_loss",
  "kd_loss",
  "kl_divergence_from_logits",
  "label_smoothing_loss",
  "moebert_loss",
  "pro_kd_loss",
  "pro_kd_temperature",
  "reweighted_kd_loss",
  "rw_kd_meta_gradient",
  "smooth_labels",
  "symmetric_kl_from_logits",
  "ted_loss",
  "token_kd_loss",
  "universal_kd_loss",
]
# Deprecated here: name -> the module that has it now.
_DEPRECATED = {
  "embedding_table": "distill.kpod",
  "token_kinds": "distill.kpod",
  "weight_stats_by_kind": "distill.kpod",
  "NNXTrainer": "fira_jax.lab",
}


def __getattr__(name: str):
  # KPOD's names (``distill.KPODConfig``, ``distill.prepare``, ...) load distill.kpod on use.
  if name in _DEPRECATED:
    new = _DEPRECATED[name]
    warnings.warn(
      f"distill.{name} is deprecated and will be removed in 0.3; use {new}.{name}",
      DeprecationWarning,
      stacklevel=2,
    )
    return getattr(importlib.import_module(new), name)
  if name.startswith("__"):
    raise AttributeError(name)
  kpod = importlib.import_module("distill.kpod")
  if name in kpod.__all__:
    return getattr(kpod, name)
  raise AttributeError(f"module 'distill' has no attribute {name!r}")


def __dir__():
  return sorted({*globals(), *importlib.import_module("distill.kpod").__all__, *_DEPRECATED})
