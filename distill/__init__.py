"""Distillation losses as pure functions of arrays, and KPOD (keypoint-based progressive CoT
distillation) end to end."""

from distill._answer_predictor import AnswerPredictor
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
from distill._kpod_data import (
  StudentBatch,
  encode_student,
  encode_weighting,
  evaluate_exact_match,
  greedy_generate,
  rationale_token_weights,
  token_logprobs,
)
from distill._kpod_experiment import (
  METHODS,
  KPODConfig,
  embedding_table,
  prepare,
  token_kinds,
  train_method,
  weight_stats_by_kind,
)
from distill._kpod_loss import weighted_token_loss
from distill._kpod_schedule import (
  KPODSchedule,
  difficulty_budget,
  greedy_select,
  kmeans,
  step_difficulty,
  submodular_value,
  uniform_given_steps,
)
from distill._kpod_weighting import (
  FrozenEmbedding,
  TokenWeighting,
  WeightingBatch,
  gumbel_keep_mask,
  token_weighting_loss,
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
from distill._nnx_train import NNXTrainer
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
  "AnswerPredictor",
  "Calculation",
  "FrozenEmbedding",
  "KPODConfig",
  "KPODSchedule",
  "LinearFilters",
  "METHODS",
  "MathProblem",
  "NNXTrainer",
  "ProblemConfig",
  "StudentBatch",
  "TokenWeighting",
  "WeightingBatch",
  "WordTokenizer",
  "annealing_kd_loss",
  "annealing_kd_objective",
  "annealing_temperature",
  "continuation_kd_loss",
  "cross_entropy",
  "difficulty_budget",
  "embedding_table",
  "encode_student",
  "encode_weighting",
  "equation_steps",
  "evaluate_exact_match",
  "exact_match",
  "extract_answer",
  "format_number",
  "generate_problem",
  "generate_problems",
  "greedy_generate",
  "greedy_select",
  "gumbel_keep_mask",
  "hidden_state_loss",
  "kd_loss",
  "kl_divergence_from_logits",
  "kmeans",
  "label_smoothing_loss",
  "load_gsm8k",
  "load_svamp",
  "moebert_loss",
  "parse_gsm8k_answer",
  "prepare",
  "pro_kd_loss",
  "pro_kd_temperature",
  "rationale_token_weights",
  "reweighted_kd_loss",
  "rw_kd_meta_gradient",
  "smooth_labels",
  "split_words",
  "step_difficulty",
  "submodular_value",
  "symmetric_kl_from_logits",
  "ted_loss",
  "token_kd_loss",
  "token_logprobs",
  "token_weighting_loss",
  "token_kinds",
  "train_method",
  "weight_stats_by_kind",
  "uniform_given_steps",
  "universal_kd_loss",
  "weighted_token_loss",
]
