"""Checkpoints that survive a kill and a corrupt file: atomic orbax saves, last-k, fallback.

A run folder holds ``checkpoints/<step>/{state,meta}``: ``state`` the arrays (a flat
``{path: array}`` dict, written by orbax's ``StandardSave``), ``meta`` a JSON dict (step, data
position, the run's identity). Orbax writes each step into a temporary folder and renames it
when complete, so a process killed during a save (even ``kill -9``) leaves the previous steps
intact and the partial one is ignored (and cleaned up on the next start).

:meth:`Checkpointer.restore_latest` reads the newest step; if it cannot be read (a flipped
block, a truncated file) it prints one warning line (which step, why), moves that step aside to
``corrupt_checkpoints/`` and tries the next newest. Only when every step fails does it raise a
:class:`CheckpointError` (a ``ValueError``: the command line prints it as one line).
"""

from __future__ import annotations

import pathlib
import shutil
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

__all__ = ["CheckpointError", "Checkpointer", "Restored"]


class CheckpointError(ValueError):
  """No checkpoint of a folder could be read."""


class Restored(NamedTuple):
  """A checkpoint read back: its ``step``, the ``state`` (the layout of ``like``) and ``meta``."""

  step: int
  state: Any
  meta: dict


def _key(path) -> str:
  return jax.tree_util.keystr(path, simple=True, separator="/")


def _flat_nonempty(tree) -> dict:
  """``{path: array}`` without zero-size leaves (placeholders orbax refuses to write)."""
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {_key(p): x for p, x in leaves if x.size > 0}


@jax.jit
def _fingerprints(arrays: dict) -> dict:
  """A position-weighted checksum (uint32) of the bytes of each array: byte flips that orbax
  would read back silently (raw chunks carry no checksum) change it."""

  def one(x):
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      x = jax.random.key_data(x)
    if x.dtype == jnp.bool_:
      x = x.astype(jnp.uint8)
    b = x.reshape(-1) if x.dtype.itemsize == 1 else jax.lax.bitcast_convert_type(x, jnp.uint8)
    b = b.reshape(-1).astype(jnp.uint32)
    w = (jnp.arange(b.size, dtype=jnp.uint32) % 65521) + 1
    return jnp.sum(b * w, dtype=jnp.uint32)

  return {k: one(v) for k, v in arrays.items()}


def _host_fingerprints(arrays: dict) -> dict[str, int]:
  return {k: int(v) for k, v in jax.device_get(_fingerprints(arrays)).items()}


def _why(error: BaseException) -> str:
  """One short line saying why a read failed (the most specific line of a long message)."""
  lines = [line.strip() for line in str(error).splitlines() if line.strip()]
  hints = ("checksum", "corrupt", "decompress", "truncat", "not found", "no such", "decode")
  line = next((x for x in lines if any(h in x.lower() for h in hints)), lines[0] if lines else "")
  line = line if len(line) <= 160 else line[:157] + "..."
  return f"{type(error).__name__}: {line}" if line else type(error).__name__


def warn(message: str) -> None:
  """Prints a one-line warning on stderr (what a run prints about its checkpoints)."""
  print(f"warning: {message}", file=sys.stderr, flush=True)


class Checkpointer:
  """An async ``ocp.CheckpointManager`` over ``<run_dir>/checkpoints`` with items ``state``
  and ``meta``, keeping the newest ``max_to_keep`` steps.

  Arrays are restored onto an abstract target carrying the *current* shardings, so a run saved
  on 8 devices resumes on 4 or on 1.

  Args:
    run_dir: the run folder; checkpoints go to ``run_dir/checkpoints``.
    max_to_keep: how many of the newest steps to keep (at least 1; 2 or more lets a corrupt
      newest step fall back to the previous one).
  """

  def __init__(self, run_dir: str | pathlib.Path, *, max_to_keep: int = 2):
    if not isinstance(max_to_keep, int) or max_to_keep < 1:
      raise ValueError(f"max_to_keep must be a positive int, got {max_to_keep!r}")
    self.run_dir = pathlib.Path(run_dir).absolute()
    self.directory = self.run_dir / "checkpoints"
    self._mngr = ocp.CheckpointManager(
      self.directory,
      options=ocp.CheckpointManagerOptions(
        max_to_keep=max_to_keep, create=True, cleanup_tmp_directories=True
      ),
      item_names=("state", "meta"),
    )

  def latest_step(self) -> int | None:
    """The newest committed step (``None`` when there is none)."""
    return self._mngr.latest_step()

  def all_steps(self) -> list[int]:
    """Every committed step, oldest first."""
    return sorted(self._mngr.all_steps())

  def save(self, step: int, state: Any, meta: dict) -> bool:
    """Starts an asynchronous save of ``state`` (a pytree of arrays) and ``meta`` (JSON).

    Returns False (and writes nothing) when ``step`` is already saved.
    """
    if step in self._mngr.all_steps():
      return False
    arrays = _flat_nonempty(state)
    meta = {**meta, "_fingerprints": _host_fingerprints(arrays)}
    return bool(
      self._mngr.save(
        step,
        args=ocp.args.Composite(state=ocp.args.StandardSave(arrays), meta=ocp.args.JsonSave(meta)),
        force=True,
      )
    )

  def restore_meta(self, step: int) -> dict:
    """The JSON metadata saved with ``step``."""
    meta = self._read_meta(step)
    meta.pop("_fingerprints", None)
    return meta

  def _read_meta(self, step: int) -> dict:
    return self._mngr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]

  def restore_state(self, step: int, like: Any) -> Any:
    """Restores the arrays at ``step`` with the shapes, dtypes and shardings of ``like``."""
    abstract = {
      k: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, "sharding", None))
      for k, x in _flat_nonempty(like).items()
    }
    args = ocp.args.Composite(state=ocp.args.StandardRestore(abstract))
    restored = self._mngr.restore(step, args=args)["state"]
    saved = self._read_meta(step).get("_fingerprints")
    if saved is not None:  # checkpoints written before fingerprints have none
      got = _host_fingerprints(restored)
      bad = [k for k in restored if got[k] != saved.get(k)]
      if bad:
        raise ValueError(f"checksum mismatch in {len(bad)} array(s), e.g. {bad[0]}")
    leaves, treedef = jax.tree_util.tree_flatten_with_path(like)
    return jax.tree.unflatten(treedef, [restored.get(_key(p), x) for p, x in leaves])

  def restore_latest(
    self, like: Any, *, check: Callable[[dict], None] | None = None
  ) -> Restored | None:
    """The newest readable checkpoint, falling back over unreadable ones.

    Args:
      like: a pytree with the layout (and shardings) of the saved state.
      check: called with a step's metadata before its arrays are read; raise ``ValueError``
        there to refuse a checkpoint of another configuration (that error is not a corruption:
        it propagates).

    Returns:
      ``Restored(step, state, meta)``, or ``None`` when the folder holds no checkpoint.

    Raises:
      CheckpointError: when there are checkpoints and none of them can be read.
    """
    steps = self.all_steps()
    failures = []
    for i, step in enumerate(reversed(steps)):
      try:
        meta = self.restore_meta(step)
      except Exception as e:  # noqa: BLE001 - any failure to read is a bad checkpoint
        failures.append(self._set_aside(step, e, steps[: len(steps) - i - 1]))
        continue
      if check is not None:
        check(meta)
      try:
        state = self.restore_state(step, like)
      except Exception as e:  # noqa: BLE001
        failures.append(self._set_aside(step, e, steps[: len(steps) - i - 1]))
        continue
      return Restored(step, state, meta)
    if failures:
      raise CheckpointError(
        f"no readable checkpoint in {self.directory}: "
        + "; ".join(failures)
        + f" (the unreadable steps were moved to {self._aside_dir()})"
      )
    return None

  def _aside_dir(self) -> pathlib.Path:
    return self.run_dir / "corrupt_checkpoints"

  def _set_aside(self, step: int, error: Exception, older: list[int]) -> str:
    """Warns about ``step`` in one line and moves it out of the way of new saves."""
    why = f"step {step}: {_why(error)}"
    then = f"falling back to step {older[-1]}" if older else "no older checkpoint"
    warn(f"checkpoint {self.directory / str(step)} cannot be read ({_why(error)}); {then}")
    if jax.process_index() == 0:
      aside = self._aside_dir()
      aside.mkdir(parents=True, exist_ok=True)
      target, n = aside / str(step), 1
      while target.exists():
        target, n = aside / f"{step}.{n}", n + 1
      shutil.move(str(self.directory / str(step)), target)
    if jax.process_count() > 1:
      multihost_utils.sync_global_devices(f"fira_jax_checkpoint_aside_{step}")
    self._mngr.reload()
    return why

  def wait(self) -> None:
    """Blocks until every started save is committed."""
    self._mngr.wait_until_finished()

  def close(self) -> None:
    """Waits for pending saves and stops orbax's threads."""
    self._mngr.wait_until_finished()
    self._mngr.close()
