"""KPOD: keypoint-based progressive chain-of-thought distillation (Feng et al., ICML 2024,
arXiv:2405.16064), end to end with the project's LLaMA as the student.

The pieces: a token weighting module that learns which rationale tokens are keypoints
(:class:`TokenWeighting`, :func:`token_weighting_loss`), the in-rationale progressive schedule
(:func:`step_difficulty`, :func:`difficulty_budget`, :class:`KPODSchedule`), the weighted
distillation loss (:func:`weighted_token_loss`); a pretrained student (a generated arithmetic
corpus and tokenizer for ``fira-jax train``, :func:`write_corpus`, and loading its checkpoint,
:func:`load_pretrained_student`); data (GSM8K/SVAMP loaders, a generator of
multi-step problems, a digit-splitting tokenizer, exact-match evaluation); and the comparison
against its ablations (:class:`KPODConfig`, :func:`prepare`, :func:`train_method`, the report
:func:`render_report`), also run as ``fira-jax distill kpod`` (:mod:`distill.kpod.cli`).
"""

from distill.kpod._answer_predictor import AnswerPredictor
from distill.kpod._data import (
  StudentBatch,
  encode_student,
  encode_weighting,
  evaluate_exact_match,
  greedy_generate,
  rationale_token_weights,
  token_logprobs,
)
from distill.kpod._evaluate import equation_errors, exact_match, extract_answer
from distill.kpod._experiment import (
  METHODS,
  KPODConfig,
  Prepared,
  default_student,
  embedding_table,
  evaluation_questions,
  prepare,
  problem_sets,
  train_method,
)
from distill.kpod._keypoints import (
  KINDS,
  TRACE_KINDS,
  hide_final_result,
  restore_final_result,
  token_kinds,
  trace_point,
  weight_stats_by_kind,
)
from distill.kpod._loss import weighted_token_loss
from distill.kpod._math_data import (
  Calculation,
  MathProblem,
  download_gsm8k,
  download_svamp,
  equation_steps,
  format_number,
  load_gsm8k,
  load_svamp,
  parse_gsm8k_answer,
)
from distill.kpod._pretrain import (
  CorpusConfig,
  load_pretrained_student,
  pretraining_corpus,
  problem_tokenizer,
  worked_problem_text,
  write_corpus,
  write_tokenizer_json,
)
from distill.kpod._problems import ProblemConfig, generate_problem, generate_problems
from distill.kpod._report import LABELS, NOTES_MARKER, config_of, render_report, write_report
from distill.kpod._schedule import (
  KPODSchedule,
  difficulty_budget,
  greedy_select,
  kmeans,
  step_difficulty,
  submodular_value,
  uniform_given_steps,
)
from distill.kpod._teacher import TEACHER_KEEP, split_rationale, teacher_rationales
from distill.kpod._tokenizer import WordTokenizer, split_words
from distill.kpod._weighting import (
  FrozenEmbedding,
  TokenWeighting,
  WeightingBatch,
  gumbel_keep_mask,
  token_weighting_loss,
  weighting_objective,
)

__all__ = [
  "KINDS",
  "LABELS",
  "NOTES_MARKER",
  "TEACHER_KEEP",
  "TRACE_KINDS",
  "METHODS",
  "AnswerPredictor",
  "Calculation",
  "CorpusConfig",
  "FrozenEmbedding",
  "KPODConfig",
  "KPODSchedule",
  "MathProblem",
  "Prepared",
  "ProblemConfig",
  "StudentBatch",
  "TokenWeighting",
  "WeightingBatch",
  "WordTokenizer",
  "config_of",
  "default_student",
  "difficulty_budget",
  "embedding_table",
  "evaluation_questions",
  "encode_student",
  "encode_weighting",
  "equation_errors",
  "equation_steps",
  "download_gsm8k",
  "download_svamp",
  "evaluate_exact_match",
  "exact_match",
  "extract_answer",
  "format_number",
  "generate_problem",
  "generate_problems",
  "greedy_generate",
  "greedy_select",
  "gumbel_keep_mask",
  "hide_final_result",
  "kmeans",
  "load_gsm8k",
  "load_pretrained_student",
  "load_svamp",
  "parse_gsm8k_answer",
  "prepare",
  "problem_sets",
  "pretraining_corpus",
  "problem_tokenizer",
  "rationale_token_weights",
  "restore_final_result",
  "render_report",
  "split_rationale",
  "split_words",
  "step_difficulty",
  "submodular_value",
  "teacher_rationales",
  "token_kinds",
  "token_logprobs",
  "token_weighting_loss",
  "trace_point",
  "train_method",
  "uniform_given_steps",
  "weight_stats_by_kind",
  "weighted_token_loss",
  "weighting_objective",
  "worked_problem_text",
  "write_corpus",
  "write_report",
  "write_tokenizer_json",
]
