"""Pre-training LLaMA models with Fira, GaLore, LoRA or AdamW: sharded loop, checkpoints, CLI."""

from fira_jax.train.checkpoint import Checkpointer
from fira_jax.train.config import TrainConfig
from fira_jax.train.loop import NonFiniteError, evaluate, train
from fira_jax.train.metrics import MetricsLog, read_metrics
from fira_jax.train.optimizers import (
  OPTIMIZERS,
  lr_schedule,
  make_optimizer,
  matrix_rate_mask,
  projected_dimension_numbers,
  scale_by_rates,
)
from fira_jax.train.sharding import (
  make_mesh,
  maybe_initialize_distributed,
  shard_batch,
  spec_for_shape,
  tree_shardings,
)
from fira_jax.train.step import FlatModel, lm_loss, make_eval_step, make_train_step, state_bytes

__all__ = [
  "OPTIMIZERS",
  "Checkpointer",
  "FlatModel",
  "MetricsLog",
  "NonFiniteError",
  "TrainConfig",
  "evaluate",
  "lm_loss",
  "lr_schedule",
  "make_eval_step",
  "make_mesh",
  "make_optimizer",
  "make_train_step",
  "matrix_rate_mask",
  "maybe_initialize_distributed",
  "projected_dimension_numbers",
  "read_metrics",
  "scale_by_rates",
  "shard_batch",
  "spec_for_shape",
  "state_bytes",
  "train",
  "tree_shardings",
]
