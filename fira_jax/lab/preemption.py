"""Stopping a training loop cleanly on SIGTERM/SIGINT (a pre-empted VM, a scheduler, Ctrl-C).

:class:`Preemption` is a context manager around a loop. Inside it, SIGTERM and SIGINT do not
kill the process: they set a flag, and :meth:`Preemption.reached` returns True after the step
in flight, so the loop can write a checkpoint of that step, wait for it to be committed and
exit with :data:`EXIT_PREEMPTED`. A second signal while the checkpoint is written is ignored
(with a note); ``kill -9`` still stops at once and leaves the previous checkpoints intact.

On several processes (``jax.distributed``), JAX's own preemption service receives SIGTERM, and
``reached(step)`` is :func:`jax.experimental.multihost_utils.reached_preemption_sync_point`: it
becomes True on every host at the same step, so all hosts save the same one. There no Python
handler is installed (it would replace JAX's), and SIGINT keeps its default.
"""

from __future__ import annotations

import shlex
import signal
import sys
import threading

import jax
from jax.experimental import multihost_utils

__all__ = ["EXIT_PREEMPTED", "Preemption", "resume_hint"]

#: Exit status of a run stopped by a signal after checkpointing (``EX_TEMPFAIL``: run the same
#: command with ``--resume`` to continue). A crash exits 1, a usage error 2, a kill 128 + N.
EXIT_PREEMPTED = 75


class Preemption:
  """Turns SIGTERM/SIGINT into a stop request that a loop polls once per step.

  Args:
    signals: the signals to catch on a single process.
    enabled: False leaves the signal handlers alone (``reached`` is then always False).

  Examples:
    >>> with Preemption() as pre:
    ...   for step in range(1, 4):
    ...     pass  # one training step
    ...     if pre.reached(step):
    ...       break  # save a checkpoint of `step`, then exit with EXIT_PREEMPTED
    >>> pre.signal_name is None
    True
  """

  def __init__(
    self,
    signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT),
    *,
    enabled: bool = True,
  ):
    self.signals = signals
    self.enabled = enabled
    self.signum: int | None = None
    self._previous: dict[int, object] = {}

  @property
  def multihost(self) -> bool:
    return jax.process_count() > 1

  @property
  def signal_name(self) -> str | None:
    """``"SIGTERM"``/``"SIGINT"`` once a signal arrived (``"preemption"`` on several hosts)."""
    if self.signum is None:
      return None
    return signal.Signals(self.signum).name if self.signum > 0 else "preemption"

  def _handle(self, signum, frame) -> None:
    name = signal.Signals(signum).name
    if self.signum is None:
      self.signum = signum
      print(
        f"\n{name} received: finishing the current step, then writing a checkpoint "
        "(kill -9 aborts at once; the previous checkpoints stay intact)",
        file=sys.stderr,
        flush=True,
      )
    else:
      print(
        f"{name} received again: still writing the checkpoint, please wait",
        file=sys.stderr,
        flush=True,
      )

  def __enter__(self) -> Preemption:
    on_main = threading.current_thread() is threading.main_thread()
    if self.enabled and on_main and not self.multihost:
      for s in self.signals:
        self._previous[s] = signal.signal(s, self._handle)
    return self

  def __exit__(self, *exc) -> None:
    for s, handler in self._previous.items():
      signal.signal(s, handler)
    self._previous.clear()

  def reached(self, step: int) -> bool:
    """True when the loop should checkpoint ``step`` and stop (the same step on every host).

    Call it once per step, on every host, with increasing steps.
    """
    if not self.enabled:
      return False
    if self.multihost:
      if self.signum is None and multihost_utils.reached_preemption_sync_point(step):
        self.signum = -1
      return self.signum is not None
    return self.signum is not None


def resume_hint(command: str) -> str:
  """``command`` (a shell command line) with ``--resume`` appended unless it has it."""
  return command if "--resume" in shlex.split(command) else f"{command} --resume"
