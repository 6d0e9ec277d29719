"""The experiment harness shared by every method package.

Flags from config dataclasses (:mod:`~fira_jax.lab.config_flags`), one NNX training helper
(:mod:`~fira_jax.lab.nnx_train`), named random streams (:mod:`~fira_jax.lab.seeds`), statistics
over seeds (:mod:`~fira_jax.lab.stats`), the machine line (:mod:`~fira_jax.lab.machine`),
metrics files and progress bars (:mod:`~fira_jax.lab.metrics`), the results format
(:mod:`~fira_jax.lab.results`) and the ``fira-jax`` command tree (:mod:`~fira_jax.lab.cli`).

It imports no method package (``graphs``, ``distill``, …) and the optimizer transforms never
import it; ``import fira_jax`` does not load it.
"""

from fira_jax.lab import seeds
from fira_jax.lab.checkpoint import Checkpointer, CheckpointError, Restored
from fira_jax.lab.config_flags import add_dataclass_flags, field_help, from_args, to_argv
from fira_jax.lab.machine import describe_machine, machine_info
from fira_jax.lab.metrics import MetricsLog, perplexity, progress_bar, read_metrics
from fira_jax.lab.nnx_train import EarlyStopping, FitResult, NNXTrainer
from fira_jax.lab.preemption import EXIT_PREEMPTED, Preemption
from fira_jax.lab.results import (
  append_run,
  group_runs,
  make_record,
  markdown_table,
  read_runs,
  write_runs,
)
from fira_jax.lab.stats import PairedDelta, fmt_pm, mean_std, paired_by_key, paired_delta

__all__ = [
  "EXIT_PREEMPTED",
  "CheckpointError",
  "Checkpointer",
  "Preemption",
  "Restored",
  "EarlyStopping",
  "FitResult",
  "MetricsLog",
  "NNXTrainer",
  "PairedDelta",
  "add_dataclass_flags",
  "append_run",
  "describe_machine",
  "field_help",
  "fmt_pm",
  "from_args",
  "group_runs",
  "machine_info",
  "make_record",
  "markdown_table",
  "mean_std",
  "paired_by_key",
  "paired_delta",
  "perplexity",
  "progress_bar",
  "read_metrics",
  "read_runs",
  "seeds",
  "to_argv",
  "write_runs",
]
