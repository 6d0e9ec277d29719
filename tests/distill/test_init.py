"""``distill``'s public names: the losses, and KPOD's names kept where they were."""

import subprocess
import sys
import warnings

import pytest

import distill
from distill import kpod
from fira_jax import lab

# The names `distill` exported before KPOD moved to `distill.kpod`.
KPOD_NAMES = (
  "AnswerPredictor Calculation FrozenEmbedding KPODConfig KPODSchedule METHODS MathProblem "
  "ProblemConfig StudentBatch TokenWeighting WeightingBatch WordTokenizer difficulty_budget "
  "encode_student encode_weighting equation_steps evaluate_exact_match exact_match extract_answer "
  "format_number generate_problem generate_problems greedy_generate greedy_select "
  "gumbel_keep_mask kmeans load_gsm8k load_svamp parse_gsm8k_answer prepare "
  "rationale_token_weights split_words step_difficulty submodular_value token_logprobs "
  "token_weighting_loss train_method uniform_given_steps weighted_token_loss"
).split()


def test_losses_are_exported_and_importing_them_does_not_load_kpod():
  assert "kd_loss" in distill.__all__ and "KPODConfig" not in distill.__all__
  code = "import sys, distill; distill.kd_loss; print('distill.kpod' in sys.modules)"
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
  assert out.stdout.strip() == "False", out.stderr


def test_kpod_names_still_work_from_distill():
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    for name in KPOD_NAMES:
      assert getattr(distill, name) is getattr(kpod, name)
    from distill import KPODConfig  # noqa: PLC0415

  assert KPODConfig is kpod.KPODConfig


@pytest.mark.parametrize(
  "name, home",
  [
    ("embedding_table", kpod),
    ("token_kinds", kpod),
    ("weight_stats_by_kind", kpod),
    ("NNXTrainer", lab),
  ],
)
def test_moved_helpers_warn(name, home):
  with pytest.warns(DeprecationWarning, match=f"use {home.__name__}.{name}"):
    assert getattr(distill, name) is getattr(home, name)


def test_unknown_name_is_an_attribute_error():
  with pytest.raises(AttributeError, match="no attribute 'nope'"):
    distill.nope  # noqa: B018
