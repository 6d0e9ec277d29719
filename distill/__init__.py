"""Distillation losses as pure functions of arrays, and KPOD (keypoint-based progressive CoT
distillation) end to end."""

from distill._kd import (
  cross_entropy,
  kd_loss,
  kl_divergence_from_logits,
  label_smoothing_loss,
  smooth_labels,
  symmetric_kl_from_logits,
  token_kd_loss,
)
from distill._layerwise import (
  LinearFilters,
  hidden_state_loss,
  moebert_loss,
  ted_loss,
  universal_kd_loss,
)
from distill._schedules import (
  annealing_kd_loss,
  annealing_kd_objective,
  annealing_temperature,
  continuation_kd_loss,
  pro_kd_loss,
  pro_kd_temperature,
  reweighted_kd_loss,
  rw_kd_meta_gradient,
)

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
