"""Distillation losses as pure functions of arrays, and KPOD (keypoint-based progressive CoT
distillation) end to end."""

from distill._evaluate import exact_match, extract_answer
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
from distill._math_data import (
  Calculation,
  MathProblem,
  equation_steps,
  format_number,
  load_gsm8k,
  load_svamp,
  parse_gsm8k_answer,
)
from distill._problems import ProblemConfig, generate_problem, generate_problems
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
from distill._tokenizer import WordTokenizer, split_words

__all__ = [
  "Calculation",
  "LinearFilters",
  "MathProblem",
  "ProblemConfig",
  "WordTokenizer",
  "annealing_kd_loss",
  "annealing_kd_objective",
  "annealing_temperature",
  "continuation_kd_loss",
  "cross_entropy",
  "equation_steps",
  "exact_match",
  "extract_answer",
  "format_number",
  "generate_problem",
  "generate_problems",
  "hidden_state_loss",
  "kd_loss",
  "kl_divergence_from_logits",
  "label_smoothing_loss",
  "load_gsm8k",
  "load_svamp",
  "moebert_loss",
  "parse_gsm8k_answer",
  "pro_kd_loss",
  "pro_kd_temperature",
  "reweighted_kd_loss",
  "rw_kd_meta_gradient",
  "smooth_labels",
  "split_words",
  "symmetric_kl_from_logits",
  "ted_loss",
  "token_kd_loss",
  "universal_kd_loss",
]
