"""Orbax checkpoints of a run: arrays (params, optimizer state, frozen weights, RNG) + metadata.

Arrays are restored onto an abstract target that carries the *current* shardings, so a run
saved on 8 devices resumes on 4 or on 1. The metadata (JSON) holds the step, the data
iterator position and the run's identity (model config, optimizer, rank); resuming with a
different identity is refused with a one-line error.
"""

from __future__ import annotations

import pathlib
from typing import Any

import jax
import orbax.checkpoint as ocp


def _key(path) -> str:
  return jax.tree_util.keystr(path, simple=True, separator="/")


def _flat_nonempty(tree) -> dict:
  """``{path: array}`` without zero-size leaves (placeholders orbax refuses to write)."""
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {_key(p): x for p, x in leaves if x.size > 0}


class Checkpointer:
  """Thin wrapper of an async ``ocp.CheckpointManager`` with items ``state`` and ``meta``."""

  def __init__(self, directory: str | pathlib.Path, *, max_to_keep: int = 2):
    self.directory = pathlib.Path(directory).absolute() / "checkpoints"
    self._mngr = ocp.CheckpointManager(
      self.directory,
      options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
      item_names=("state", "meta"),
    )

  def latest_step(self) -> int | None:
    return self._mngr.latest_step()

  def save(self, step: int, state: Any, meta: dict) -> None:
    """Starts an asynchronous save of ``state`` (a pytree of arrays) and ``meta`` (JSON)."""
    arrays = _flat_nonempty(state)
    self._mngr.save(
      step,
      args=ocp.args.Composite(state=ocp.args.StandardSave(arrays), meta=ocp.args.JsonSave(meta)),
    )

  def restore_meta(self, step: int) -> dict:
    return self._mngr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]

  def restore_state(self, step: int, like: Any) -> Any:
    """Restores the arrays at ``step`` with the shapes, dtypes and shardings of ``like``."""
    abstract = {
      k: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding)
      for k, x in _flat_nonempty(like).items()
    }
    args = ocp.args.Composite(state=ocp.args.StandardRestore(abstract))
    restored = self._mngr.restore(step, args=args)["state"]
    leaves, treedef = jax.tree_util.tree_flatten_with_path(like)
    return jax.tree.unflatten(treedef, [restored.get(_key(p), x) for p, x in leaves])

  def wait(self) -> None:
    self._mngr.wait_until_finished()

  def close(self) -> None:
    self._mngr.wait_until_finished()
    self._mngr.close()


def check_identity(saved: dict, current: dict, directory: pathlib.Path) -> None:
  """Raises ValueError naming the first field where a checkpoint's run differs from this one."""
  for key, value in current.items():
    if saved.get(key) != value:
      raise ValueError(
        f"checkpoint in {directory} is from another config: {key}={saved.get(key)!r}, this run "
        f"has {value!r}; use the same settings or another --out"
      )
