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
import numpy as np
import optax
from flax import nnx

from fira_jax.lab.metrics import MetricsLog, progress_bar, to_jsonable

__all__ = ["NNXTrainer", "EarlyStopping", "FitResult"]

LossFn = Callable[[Any, Any, jax.Array], tuple[jax.Array, Any]]
EvalFn = Callable[[Any, Any], Any]


def _update_all(models, optimizers, grads):
  if isinstance(models, tuple):
    for m, o, g in zip(models, optimizers, grads, strict=True):
      o.update(m, g)
  else:
    optimizers.update(models, grads)


@functools.partial(jax.jit, static_argnums=(0, 1, 2), donate_argnums=3)
def _train_step(graphdef, loss_fn, wrt, state, batch, key):
  models, optimizers = nnx.merge(graphdef, state)
  grad_fn = nnx.value_and_grad(loss_fn, argnums=nnx.DiffState(0, wrt), has_aux=True)
  (loss, aux), grads = grad_fn(models, batch, key)
  _update_all(models, optimizers, grads)
  return nnx.state((models, optimizers)), loss, aux


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3), donate_argnums=4)
def _train_eval_step(graphdef, loss_fn, eval_fn, wrt, state, batch, key, eval_batch):
  models, optimizers = nnx.merge(graphdef, state)
  grad_fn = nnx.value_and_grad(loss_fn, argnums=nnx.DiffState(0, wrt), has_aux=True)
  (loss, aux), grads = grad_fn(models, batch, key)
  _update_all(models, optimizers, grads)
  metrics = eval_fn(models, eval_batch)
  return nnx.state((models, optimizers)), loss, aux, metrics


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
  """

  def __init__(
    self,
    model: nnx.Module | tuple[nnx.Module, ...],
    tx: optax.GradientTransformation | tuple[optax.GradientTransformation, ...],
    loss_fn: LossFn,
    *,
    eval_fn: EvalFn | None = None,
    wrt: Any = nnx.Param,
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

  def step(self, batch: Any, key: jax.Array) -> tuple[jax.Array, Any]:
    """One optimisation step; returns ``(loss, aux)`` computed before the update."""
    self.state, loss, aux = _train_step(
      self.graphdef, self.loss_fn, self.wrt, self.state, batch, key
    )
    return loss, aux

  def step_and_evaluate(
    self, batch: Any, key: jax.Array, eval_batch: Any = None
  ) -> tuple[jax.Array, Any, Any]:
    """One step, then ``eval_fn`` on the updated model (one compiled call):
    ``(loss, aux, metrics)``; ``eval_batch`` defaults to ``batch``."""
    if self.eval_fn is None:
      raise ValueError("step_and_evaluate needs an eval_fn (pass it to NNXTrainer)")
    self.state, loss, aux, metrics = _train_eval_step(
      self.graphdef,
      self.loss_fn,
      self.eval_fn,
      self.wrt,
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
  ) -> FitResult:
    """Runs up to ``steps`` steps over ``batches``; the key of step ``s`` is
    ``fold_in(key, s)``.

    With an ``eval_fn``, each step also evaluates the updated model (``eval_batch`` = the
    batch). Every ``log_every`` steps (and on the last), the loss, the scalar ``aux`` entries and
    the metrics are fetched to the host, written to ``log`` (with ``record``'s fields) and kept
    in the history; only then is the device synchronised. ``stopper`` (needs ``score``, a
    function of that host record) stops the loop after its patience.

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
    bar = progress_bar(steps, desc=desc, disable=not progress)
    it = iter(batches)
    done = 0
    tic = time.perf_counter()
    try:
      for s in range(steps):
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
        if done % log_every and done != steps:
          continue
        row = {"step": done, "loss": loss}
        for name, part in (("aux", aux), ("metrics", metrics)):
          if isinstance(part, dict):
            row.update(part)
          elif part is not None and not (isinstance(part, tuple) and not part):
            row[name] = part
        row = to_jsonable(jax.device_get(row))
        row["seconds"] = time.perf_counter() - tic
        for k_, v in row.items():
          history.setdefault(k_, []).append(v)
        if log is not None:
          log.write({**(record or {}), **row})
        bar.set_postfix(loss=f"{float(row['loss']):.4f}")
        if stopper is not None:
          stopper.update(done, score(row))
          if stopper.should_stop(done):
            break
    finally:
      bar.close()
    return FitResult(steps_done=done, history={k: np.asarray(v) for k, v in history.items()})


class FitResult(NamedTuple):
  """What :meth:`NNXTrainer.fit` ran: steps done and the logged history (arrays per field)."""

  steps_done: int
  history: dict[str, np.ndarray]


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
