"""Optimizer-state bytes of the paper's LLaMA sizes against the spec's analytic formula, and the
committed memory table."""

import math

import jax
import jax.numpy as jnp
import optax
import pytest

import fira_jax
from fira_jax.models import CONFIGS
from fira_jax.train import projected_dimension_numbers

from _llama_shapes import PAPER_MODELS, llama_param_shapes  # isort: skip (benchmarks/fira)


def analytic_bytes(config, rank, optimizer, proj_type, itemsize):
  """Spec: per projected m x n matrix with m >= n under the official rule, projector r*n,
  moments 2*m*r, one float32 limiter scalar (Fira); every other leaf 2*size; plus the int32
  step counters of the chain's pieces (projection, bias correction, weight decay, limiter)."""
  total = 0
  d, f, layers = config.d_model, config.ffn_dim, config.num_layers
  matrices = [(d, d)] * 4 + [(d, f), (d, f), (f, d)]
  for m, n in matrices * layers:
    big, small, r = max(m, n), min(m, n), min(rank, m, n)
    if proj_type == "std":
      total += (r * small + 2 * big * r) * itemsize
    else:  # reverse_std: moments on the smaller side, projector on the larger
      total += (r * big + 2 * small * r) * itemsize
    if optimizer == "fira":
      total += 4
  dense = 2 * 32000 * d + layers * 2 * d + d
  total += 2 * dense * itemsize
  total += 4 * (4 if optimizer == "fira" else 3)
  return total


@pytest.mark.parametrize("name", ["llama_60m", "llama_1b", "llama_7b"])
@pytest.mark.parametrize("optimizer", ["fira", "galore"])
@pytest.mark.parametrize("proj_type", ["std", "reverse_std"])
def test_state_bytes_equal_the_analytic_formula(name, optimizer, proj_type):
  params = llama_param_shapes(name, dtype=jnp.bfloat16)
  rank = {"llama_60m": 128, "llama_1b": 512, "llama_7b": 64}[name]
  factory = fira_jax.fira if optimizer == "fira" else fira_jax.galore
  tx = factory(
    1e-2, rank, proj_type=proj_type, weight_dimension_numbers=projected_dimension_numbers(params)
  )
  measured = fira_jax.optimizer_state_bytes(tx, params)
  assert measured == analytic_bytes(CONFIGS[name], rank, optimizer, proj_type, itemsize=2)


def test_adamw_bytes_and_fira_saving_at_1b():
  params = llama_param_shapes("llama_1b")
  n_params = sum(math.prod(x.shape) for x in jax.tree.leaves(params))
  adamw = fira_jax.optimizer_state_bytes(optax.adamw(1e-3), params)
  assert adamw == 2 * 4 * n_params + 4
  fira = fira_jax.optimizer_state_bytes(
    fira_jax.fira(1e-2, 512, weight_dimension_numbers=projected_dimension_numbers(params)), params
  )
  assert 0.3 < 1 - fira / adamw < 0.7  # the paper reports 61.1% at 1B (its own accounting)


def test_nothing_is_allocated_for_a_7b_model():
  params = llama_param_shapes("llama_7b")
  tx = fira_jax.fira(1e-2, 64, weight_dimension_numbers=projected_dimension_numbers(params))
  assert fira_jax.optimizer_state_bytes(tx, params) > 10 * 2**30 / 4


def test_the_committed_table_is_what_the_benchmark_prints(load_benchmark, results_dir):
  rows = load_benchmark("memory_table").table(jnp.bfloat16, models=("llama_60m", "llama_1b"))
  committed = (results_dir / "memory.md").read_text(encoding="utf-8").splitlines()
  for row in rows.splitlines():
    assert row in committed, row
  assert set(PAPER_MODELS) <= set(CONFIGS)
