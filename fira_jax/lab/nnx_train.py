"""One NNX training helper for every method: a jitted, donated step over ``nnx.Param``s, early
stopping, a progress bar and a metrics file.

The step is the flax NNX functional idiom (``nnx.split`` → ``jax.jit(donate)`` → ``nnx.merge``):
``(models, optimizers)`` live as one state pytree, so a step compiles once per architecture and
loss function and is reused across seeds. ``model`` may be one module or a tuple of modules
(e.g. FreeKD's K networks), each with its own optimizer.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from fira_jax.lab.checkpoint import Checkpointer, Restored
from fira_jax.lab.metrics import MetricsLog, progress_bar, to_jsonable
from fira_jax.lab.preemption import Preemption

__all__ = ["NNXTrainer", "EarlyStopping", "FitResult"]

LossFn = Callable[[Any, Any, jax.Array], tuple[jax.Array, Any]]
EvalFn = Callable[[Any, Any], Any]


def _update_all(models, optimizers, grads):
  if isinstance(models, tuple):
    for m, o, g in zip(models, optimizers, grads, strict=True):
      o.update(m, g)
  else:
    optimizers.update(models, grads)


def _finite(loss, grads) -> jax.Array:
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(grads)]
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(loss)), *leaves]))


def _guarded_update(graphdef, loss_fn, wrt, skip, state, batch, key):
  """The update; with ``skip`` a non-finite loss or gradient leaves ``state`` unchanged."""
  old = jax.tree.map(lambda x: x, state)  # merge may share variables with `state`
  models, optimizers = nnx.merge(graphdef, state)
  grad_fn = nnx.value_and_grad(loss_fn, argnums=nnx.DiffState(0, wrt), has_aux=True)
  (loss, aux), grads = grad_fn(models, batch, key)
  _update_all(models, optimizers, grads)
  ok = _finite(loss, grads)
  new = nnx.state((models, optimizers))
  if skip:
    new = jax.tree.map(lambda n, o: jnp.where(ok, n, o), new, old)
  return models, new, loss, aux, ~ok


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3), donate_argnums=4)
def _train_step(graphdef, loss_fn, wrt, skip, state, batch, key):
  _, new, loss, aux, bad = _guarded_update(graphdef, loss_fn, wrt, skip, state, batch, key)
  return new, loss, aux, bad


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3, 4), donate_argnums=5)
def _train_eval_step(graphdef, loss_fn, eval_fn, wrt, skip, state, batch, key, eval_batch):
  _, new, loss, aux, bad = _guarded_update(graphdef, loss_fn, wrt, skip, state, batch, key)
  models, _ = nnx.merge(graphdef, new)
  metrics = eval_fn(models, eval_batch)
  return new, loss, aux, metrics, bad


@functools.partial(jax.jit, static_argnums=(0, 1))
def _evaluate(graphdef, eval_fn, state, batch):
  models, _ = nnx.merge(graphdef, state)
  return eval_fn(models, batch)


class NNXTrainer:
  """``(model, optimizer)`` split into a graph definition and a state pytree, trained by a
  ``jax.jit``-ted step with the state donated.

  The arrays of ``model`` are donated: read the trained model back from :attr:`model`.
  ``loss_fn``, ``eval_fn`` and ``tx`` are static parts of the compiled step: pass module-level
  functions and the same transform object (e.g. from a ``functools.cache``-d factory) so that
  new trainers (other seeds) reuse the compilation.

  Args:
    model: an NNX module, or a tuple of modules trained together; variables matching ``wrt``
      are trained, the others (a frozen embedding, batch statistics) are left to the model.
    tx: the optax transformation, or a tuple of them, one per module of a tuple ``model``.
    loss_fn: ``(model, batch, key) -> (scalar loss, aux pytree)``.
    eval_fn: optional ``(model, batch) -> metrics pytree`` run after the update inside the same
      compiled step (:meth:`step_and_evaluate`) and by :meth:`evaluate` (dropout off is up to it).
    wrt: the variable filter that is differentiated and updated (default ``nnx.Param``).
    skip_nonfinite: a step whose loss or gradient is not finite leaves the models and the
      optimizer states unchanged (:attr:`last_skipped` says so; :meth:`fit` counts them).
  """

  def __init__(
    self,
    model: nnx.Module | tuple[nnx.Module, ...],
    tx: optax.GradientTransformation | tuple[optax.GradientTransformation, ...],
    loss_fn: LossFn,
    *,
    eval_fn: EvalFn | None = None,
    wrt: Any = nnx.Param,
    skip_nonfinite: bool = False,
  ):
    if isinstance(model, list):
      model = tuple(model)
    if isinstance(model, tuple):
      single = isinstance(tx, optax.GradientTransformation)
      txs = (tx,) * len(model) if single else tuple(tx)
      if len(txs) != len(model):
        raise ValueError(
          f"tx must be one transform or one per model, got {len(txs)} for {len(model)} models"
        )
      optimizer = tuple(nnx.Optimizer(m, t, wrt=wrt) for m, t in zip(model, txs, strict=True))
    else:
      if not isinstance(tx, optax.GradientTransformation):
        raise ValueError(
          "tx must be an optax.GradientTransformation for one model "
          "(a tuple of them needs a tuple of models)"
        )
      optimizer = nnx.Optimizer(model, tx, wrt=wrt)
    self.graphdef, self.state = nnx.split((model, optimizer))
    self.loss_fn, self.eval_fn, self.wrt = loss_fn, eval_fn, wrt
    self.skip_nonfinite = skip_nonfinite
    self.last_skipped: jax.Array = jnp.array(False)

  def step(self, batch: Any, key: jax.Array) -> tuple[jax.Array, Any]:
    """One optimisation step; returns ``(loss, aux)`` computed before the update."""
    self.state, loss, aux, self.last_skipped = _train_step(
      self.graphdef, self.loss_fn, self.wrt, self.skip_nonfinite, self.state, batch, key
    )
    return loss, aux

  def step_and_evaluate(
    self, batch: Any, key: jax.Array, eval_batch: Any = None
  ) -> tuple[jax.Array, Any, Any]:
    """One step, then ``eval_fn`` on the updated model (one compiled call):
    ``(loss, aux, metrics)``; ``eval_batch`` defaults to ``batch``."""
    if self.eval_fn is None:
      raise ValueError("step_and_evaluate needs an eval_fn (pass it to NNXTrainer)")
    self.state, loss, aux, metrics, self.last_skipped = _train_eval_step(
      self.graphdef,
      self.loss_fn,
      self.eval_fn,
      self.wrt,
      self.skip_nonfinite,
      self.state,
      batch,
      key,
      batch if eval_batch is None else eval_batch,
    )
    return loss, aux, metrics

  def evaluate(self, batch: Any) -> Any:
    """``eval_fn`` on the current model (compiled, nothing donated)."""
    if self.eval_fn is None:
      raise ValueError("evaluate needs an eval_fn (pass it to NNXTrainer)")
    return _evaluate(self.graphdef, self.eval_fn, self.state, batch)

  def save_checkpoint(
    self, checkpointer: Checkpointer, step: int, meta: dict | None = None
  ) -> bool:
    """Starts an atomic, asynchronous save of the models and optimizer states as ``step``
    (``meta``: JSON fields stored with it, e.g. the run's identity)."""
    return checkpointer.save(step, self.state, {"step": step, **(meta or {})})

  def restore_checkpoint(
    self, checkpointer: Checkpointer, *, check: Callable[[dict], None] | None = None
  ) -> Restored | None:
    """Loads the newest readable checkpoint into this trainer (falling back over corrupt ones
    with a one-line warning); ``check(meta)`` may raise ``ValueError`` to refuse one of
    another configuration. Returns the :class:`~fira_jax.lab.checkpoint.Restored` (its
    ``step`` is where to continue), or ``None`` when there is no checkpoint."""
    restored = checkpointer.restore_latest(self.state, check=check)
    if restored is not None:
      self.state = restored.state
    return restored

  @property
  def models(self) -> Any:
    """The current model(s), bound to a copy of the trained state."""
    model, _ = nnx.merge(self.graphdef, jax.tree.map(lambda x: x.copy(), self.state))
    return model

  model = models

  def fit(
    self,
    batches: Iterable[Any],
    *,
    steps: int,
    key: jax.Array,
    stopper: EarlyStopping | None = None,
    score: Callable[[dict], Any] | None = None,
    log: MetricsLog | None = None,
    log_every: int = 1,
    progress: bool = False,
    desc: str = "train",
    record: dict | None = None,
    start_step: int = 0,
    checkpointer: Checkpointer | None = None,
    checkpoint_every: int | None = None,
    checkpoint_meta: dict | None = None,
    max_bad_steps: int | None = None,
  ) -> FitResult:
    """Runs up to ``steps`` steps over ``batches``; the key of step ``s`` is
    ``fold_in(key, s)``.

    With an ``eval_fn``, each step also evaluates the updated model (``eval_batch`` = the
    batch). Every ``log_every`` steps (and on the last), the loss, the scalar ``aux`` entries and
    the metrics are fetched to the host, written to ``log`` (with ``record``'s fields) and kept
    in the history; only then is the device synchronised. ``stopper`` (needs ``score``, a
    function of that host record) stops the loop after its patience.

    Long runs: ``start_step`` continues a run (after :meth:`restore_checkpoint`; ``batches``
    must then start at that step's batch). With a ``checkpointer``, a checkpoint is written
    every ``checkpoint_every`` steps and at the end, and SIGTERM/SIGINT finish the step in
    flight, checkpoint it, wait for the commit and return with ``stopped`` set to the signal's
    name (:class:`~fira_jax.lab.preemption.Preemption`; a command exits with
    :data:`~fira_jax.lab.preemption.EXIT_PREEMPTED`). With ``skip_nonfinite``, skipped steps
    are counted (``skipped_steps`` in the records) and ``max_bad_steps`` consecutive ones stop
    the loop (``stopped="non-finite"``, no checkpoint written for them).

    Returns:
      A :class:`FitResult`.
    """
    if steps < 1:
      raise ValueError(f"steps must be >= 1, got {steps}")
    if log_every < 1:
      raise ValueError(f"log_every must be >= 1, got {log_every}")
    if stopper is not None and score is None:
      raise ValueError("stopper needs score (a function of the step's record)")
    history: dict[str, list] = {}
    bar = progress_bar(steps, initial=start_step, desc=desc, disable=not progress)
    it = iter(batches)
    done, skipped, streak, stopped = start_step, 0, 0, None
    tic = time.perf_counter()

    def save(step: int) -> None:
      if checkpointer is not None:
        self.save_checkpoint(checkpointer, step, checkpoint_meta)

    with Preemption(enabled=checkpointer is not None) as preemption:
      try:
        for s in range(start_step, steps):
          try:
            batch = next(it)
          except StopIteration:
            break
          k = jax.random.fold_in(key, s)
          if self.eval_fn is not None:
            loss, aux, metrics = self.step_and_evaluate(batch, k)
          else:
            (loss, aux), metrics = self.step(batch, k), {}
          done = s + 1
          bar.update(1)
          if self.skip_nonfinite:
            bad = bool(self.last_skipped)
            skipped, streak = skipped + bad, (streak + 1) * bad
            if max_bad_steps is not None and streak >= max_bad_steps:
              stopped = "non-finite"
          if preemption.reached(done) and stopped is None:
            stopped = preemption.signal_name
          if done % log_every == 0 or done == steps or stopped:
            row = {"step": done, "loss": loss}
            for name, part in (("aux", aux), ("metrics", metrics)):
              if isinstance(part, dict):
                row.update(part)
              elif part is not None and not (isinstance(part, tuple) and not part):
                row[name] = part
            row = to_jsonable(jax.device_get(row))
            row["seconds"] = time.perf_counter() - tic
            if self.skip_nonfinite:
              row["skipped_steps"] = skipped
            for k_, v in row.items():
              history.setdefault(k_, []).append(v)
            if log is not None:
              log.write({**(record or {}), **row})
            bar.set_postfix(loss=f"{float(row['loss']):.4f}")
            if stopper is not None:
              stopper.update(done, score(row))
              if stopper.should_stop(done):
                stopped = stopped or "early-stopping"
          if stopped == "non-finite":
            break
          if (checkpoint_every and done % checkpoint_every == 0) or done == steps or stopped:
            save(done)
          if stopped:
            break
        if stopped != "non-finite" and done > start_step:
          save(done)  # the end (or batches ran out); a step saved already is not rewritten
      finally:
        bar.close()
        if checkpointer is not None:
          checkpointer.wait()
    return FitResult(
      steps_done=done,
      history={k: np.asarray(v) for k, v in history.items()},
      stopped=None if stopped == "early-stopping" else stopped,
      skipped_steps=skipped,
    )


class FitResult(NamedTuple):
  """What :meth:`NNXTrainer.fit` ran: steps done, the logged history (arrays per field), why it
  stopped early (a signal, non-finite steps; ``None`` otherwise) and the skipped steps."""

  steps_done: int
  history: dict[str, np.ndarray]
  stopped: str | None = None  # "SIGTERM"/"SIGINT"/"preemption" or "non-finite"
  skipped_steps: int = 0


class EarlyStopping:
  """Tracks the best score seen and says when ``patience`` steps passed without improvement.

  Scores compare with ``>`` (``mode="max"``) or ``<`` (``"min"``); tuples compare
  lexicographically, e.g. ``(val_acc, -val_loss)`` breaks accuracy ties by the loss. The first
  update always improves. ``payload`` keeps what belongs to the best step (a test accuracy).

  Examples:
    >>> stop = EarlyStopping(patience=2)
    >>> [stop.update(e, s, test=t) for e, (s, t) in enumerate([(0.5, 1), (0.7, 2), (0.6, 3)])]
    [True, True, False]
    >>> stop.best_epoch, stop.payload["test"], stop.should_stop(3)
    (1, 2, True)
  """

  def __init__(self, patience: int | None = None, *, mode: str = "max"):
    if patience is not None and patience < 1:
      raise ValueError(f"patience must be >= 1 (or None: never stop), got {patience}")
    if mode not in ("max", "min"):
      raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
    self.patience, self.mode = patience, mode
    self.best_score: Any = None
    self.best_epoch = 0
    self.payload: dict = {}

  def update(self, epoch: int, score: Any, **payload: Any) -> bool:
    """Records ``score`` at ``epoch``; True (and the payload kept) when it is a new best."""
    better = (
      self.best_score is None
      or (self.mode == "max" and score > self.best_score)
      or (self.mode == "min" and score < self.best_score)
    )
    if better:
      self.best_score, self.best_epoch, self.payload = score, epoch, dict(payload)
    return better

  def stale(self, epoch: int) -> int:
    """Epochs since the best."""
    return epoch - self.best_epoch

  def should_stop(self, epoch: int) -> bool:
    """True once ``patience`` epochs passed without a new best."""
    return self.patience is not None and self.stale(epoch) >= self.patience

  @staticmethod
  def all_stop(stoppers: Iterable[EarlyStopping], epoch: int) -> bool:
    """True when every tracker should stop (e.g. one per network: stop when none improves)."""
    return all(s.should_stop(epoch) for s in stoppers)
