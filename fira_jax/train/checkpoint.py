"""Orbax checkpoints of a run: arrays (params, optimizer state, frozen weights) + metadata.

:class:`Checkpointer` is the harness's (:mod:`fira_jax.lab.checkpoint`): atomic asynchronous
saves, the newest ``--keep-checkpoints`` steps kept, and a restore that falls back over
unreadable steps with a one-line warning. The metadata (JSON) holds the step, the data iterator
position, the count of skipped non-finite steps and the run's identity (model config,
optimizer, rank); resuming with a different identity is refused with a one-line error.
"""

from __future__ import annotations

import pathlib

from fira_jax.lab.checkpoint import Checkpointer, CheckpointError, Restored

__all__ = ["CheckpointError", "Checkpointer", "Restored", "check_identity"]


def check_identity(saved: dict, current: dict, directory: pathlib.Path) -> None:
  """Raises ValueError naming the first field where a checkpoint's run differs from this one."""
  for key, value in current.items():
    if saved.get(key) != value:
      raise ValueError(
        f"checkpoint in {directory} is from another config: {key}={saved.get(key)!r}, this run "
        f"has {value!r}; use the same settings or another --out"
      )
