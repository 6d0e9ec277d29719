"""The pre-training loop: data → sharded model and optimizer → jitted steps → checkpoints."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import sys
import time

import jax
import numpy as np
import optax
from flax import nnx

from fira_jax.data import BatchIterator, prepare_data
from fira_jax.lab.checkpoint import warn
from fira_jax.lab.preemption import Preemption
from fira_jax.models import Llama, apply_lora, get_config
from fira_jax.train.checkpoint import Checkpointer, check_identity
from fira_jax.train.config import TrainConfig
from fira_jax.train.metrics import MetricsLog, perplexity, progress_bar
from fira_jax.train.optimizers import (
  lr_schedule,
  make_optimizer,
  projected_dimension_numbers,
  scale_by_rates,
)
from fira_jax.train.sharding import (
  make_mesh,
  maybe_initialize_distributed,
  shard_batch,
  tree_shardings,
)
from fira_jax.train.step import (
  FlatModel,
  make_eval_step,
  make_fira_stats_step,
  make_train_step,
  state_bytes,
)


def _build(config: TrainConfig, vocab_size: int, mesh):
  """Initialises the model directly into its shardings (never materialised on one device)."""
  model_cfg = get_config(
    config.model,
    vocab_size=vocab_size,
    dtype=config.dtype,
    max_seq_len=max(config.seq_len, get_config(config.model).max_seq_len),
  )

  def create():
    model = Llama(model_cfg, rngs=nnx.Rngs(config.seed))
    if config.optimizer == "lora":
      apply_lora(model, config.rank, config.lora_alpha, rngs=nnx.Rngs(config.seed + 1))
    return model

  flat = FlatModel(nnx.eval_shape(create))
  p_sh, f_sh = tree_shardings(flat.params, mesh), tree_shardings(flat.frozen, mesh)

  def init():
    real = FlatModel(create())
    return real.params, real.frozen

  params, frozen = jax.jit(init, out_shardings=(p_sh, f_sh))()
  return model_cfg, flat, params, frozen, p_sh


def _identity(config: TrainConfig, model_cfg) -> dict:
  return {
    "model": dataclasses.asdict(model_cfg),
    "optimizer": config.optimizer,
    "rank": config.rank,
    "seq_len": config.seq_len,
    "batch_size": config.batch_size,
    "steps": config.steps,
  }


def _summary(leaf: dict) -> dict:
  """One matrix's statistics as JSON numbers: quantiles of phi, the rest as scalars."""
  phi = np.asarray(leaf["phi"], np.float64)
  out = {f"phi_{q}": float(np.quantile(phi, q / 100)) for q in (0, 10, 50, 90, 100)}
  out["phi_mean"] = float(phi.mean())
  out.update({k: float(v) for k, v in leaf.items() if k != "phi"})
  return out


def _fira_stats(config: TrainConfig, flat, tx, params, out, resume_step):
  """``record(step, params, opt_state, frozen, batch)`` writing ``fira_stats.jsonl`` (one line
  per step: per projected matrix, :func:`fira_jax.fira_statistics` summarised), or None when
  ``fira_stats_every`` is 0 or the optimizer is not Fira."""
  if not config.fira_stats_every or config.optimizer != "fira" or jax.process_index() != 0:
    return None
  keys = ("norm_scaling", "gamma", "residual_form", "proj_type")
  options = {k: config.fira_options[k] for k in keys if k in config.fira_options}
  dims = projected_dimension_numbers(params)
  fn = make_fira_stats_step(
    flat, tx, config.clip, alpha=config.alpha, weight_dimension_numbers=dims, **options
  )
  log = MetricsLog(out, resume_step=resume_step, filename="fira_stats.jsonl")

  def record(step, params, opt_state, frozen, batch):
    tree = jax.device_get(fn(params, opt_state, frozen, batch))
    log.write({"step": step, "leaves": {k: _summary(v) for k, v in tree.items() if v}})

  return record


def evaluate(eval_fn, params, frozen, val: np.ndarray, batch_size: int, n_batches: int, mesh):
  """Mean validation loss over the first ``n_batches`` batches (fixed order)."""
  losses = [
    eval_fn(params, frozen, shard_batch(val[i * batch_size : (i + 1) * batch_size], mesh))
    for i in range(n_batches)
  ]
  return float(np.mean(jax.device_get(losses)))


class NonFiniteError(ValueError):
  """A run stopped after ``max_bad_steps`` consecutive steps with a non-finite loss/gradient."""


def _fault_steps(name: str) -> set[int]:
  """Steps named in the environment variable ``name`` (fault injection of the tests)."""
  return {int(x) for x in os.environ.get(name, "").replace(",", " ").split()}


def train(config: TrainConfig) -> dict:
  """Runs (or resumes) one pre-training run and returns its summary (also ``summary.json``).

  SIGTERM or SIGINT during the run finishes the step in flight, writes a checkpoint of it,
  waits until it is committed and returns with ``summary["stopped"] == "SIGTERM"`` (or
  ``"SIGINT"``, ``"preemption"`` on several hosts) and ``summary["steps_done"]`` the step
  saved; ``fira-jax train`` then exits with :data:`~fira_jax.lab.preemption.EXIT_PREEMPTED`.
  A step whose loss or gradient is not finite is skipped (parameters and optimizer state
  unchanged) and counted in ``skipped_steps``.

  Raises:
    ValueError: bad settings, an existing run without ``resume``, a checkpoint of another
      config, data too small for the batch, no readable checkpoint
      (:class:`~fira_jax.lab.checkpoint.CheckpointError`) or ``max_bad_steps`` consecutive
      non-finite steps (:class:`NonFiniteError`; the checkpoints written before stay).
  """
  maybe_initialize_distributed()
  ckpt = Checkpointer(config.out, max_to_keep=config.keep_checkpoints)
  try:
    with Preemption() as preemption:
      return _run(config, ckpt, preemption)
  finally:
    ckpt.close()  # also on errors: finishes pending async saves, stops orbax's threads


def _run(config: TrainConfig, ckpt: Checkpointer, preemption: Preemption) -> dict:
  out = pathlib.Path(config.out)
  latest = ckpt.latest_step()
  if latest is not None and not config.resume:
    raise ValueError(f"{out} already holds checkpoints; pass --resume or choose another --out")

  data = prepare_data(
    config.data,
    seq_len=config.seq_len,
    tokenizer=config.tokenizer,
    vocab_size=config.vocab_size,
    val_fraction=config.val_fraction,
    max_docs=config.max_docs,
    run_dir=out,
  )
  mesh = make_mesh(config.mesh_data)
  model_cfg, flat, params, frozen, p_sh = _build(config, data.tokenizer.vocab_size, mesh)

  schedule = lr_schedule(config.lr, config.steps, config.warmup_steps, config.min_lr_ratio)
  rest_lr = config.lr if config.rest_lr is None else config.rest_lr
  unit = lr_schedule(1.0, config.steps, config.warmup_steps, config.min_lr_ratio)
  tx = make_optimizer(
    config.optimizer,
    learning_rate=unit if config.traced_rates else schedule,
    params=params,
    rank=config.rank,
    update_proj_gap=config.update_proj_gap,
    alpha=config.alpha,
    weight_decay=config.weight_decay,
    clip=config.clip,
    rest_lr_scale=1.0 if config.traced_rates else rest_lr / config.lr,
    fira_options=(
      {"seed": config.seed, **config.fira_options}
      if config.optimizer in ("apollo", "apollo_mini")
      else config.fira_options
    ),
    projector=config.projector,
  )
  if config.traced_rates:
    tx = optax.chain(tx, scale_by_rates(config.lr, rest_lr, params))
  o_sh = tree_shardings(jax.eval_shape(tx.init, params), mesh)
  opt_state = jax.jit(tx.init, out_shardings=o_sh)(params)

  train_it = BatchIterator(data.train, config.batch_size, seed=config.seed)
  n_eval = min(config.eval_batches, len(data.val) // config.batch_size)
  if n_eval == 0:
    raise ValueError(
      f"the validation split has {len(data.val)} sequences, fewer than --batch-size "
      f"{config.batch_size}; use more data or a smaller batch"
    )
  identity = _identity(config, model_cfg)
  start, counts = 0, {"skipped_steps": 0, "bad_streak": 0}
  is_main = jax.process_index() == 0
  if latest is not None:
    restored = ckpt.restore_latest(
      {"params": params, "opt_state": opt_state, "frozen": frozen},
      check=lambda meta: check_identity(
        meta["identity"], json.loads(json.dumps(identity)), ckpt.directory
      ),
    )
    if restored is None:  # every step vanished between the listing and the read
      latest = None
    else:
      state, meta = restored.state, restored.meta
      params, opt_state, frozen = state["params"], state["opt_state"], state["frozen"]
      train_it.set_state(meta["data"])
      start = int(meta["step"])
      counts.update({k: int(meta.get(k, 0)) for k in counts})
      if is_main:
        print(f"resuming from step {start} of {ckpt.directory}", file=sys.stderr, flush=True)
  if config.resume and latest is None and is_main:
    warn(f"--resume: no checkpoint in {ckpt.directory}, starting from step 0")

  gamma = config.fira_options.get("gamma", 1.01) or 1.0
  step_fn = make_train_step(flat, tx, (p_sh, o_sh), gamma=gamma)
  # Fault injection of the tests: a NaN loss at these steps, a pause after each step.
  nan_steps = _fault_steps("FIRA_JAX_FAULT_NAN_STEPS")
  step_delay = float(os.environ.get("FIRA_JAX_FAULT_STEP_DELAY", 0))
  nan_step_fn = make_train_step(flat, tx, (p_sh, o_sh), gamma=gamma, _nan_loss=True)
  lr_at = jax.jit(schedule)
  eval_fn = make_eval_step(flat)
  stats = _fira_stats(config, flat, tx, params, out, start if latest is not None else None)
  # One writer: every host computes the same records, and a second one rewriting the file on
  # resume would race with the first.
  log = MetricsLog(out, resume_step=start if latest is not None else None) if is_main else None
  stop = config.stop_at_step or config.steps
  tokens_per_step = config.batch_size * config.seq_len
  bar = progress_bar(config.steps, start, f"{config.optimizer} {config.model}", not config.progress)
  t_last, s_last = time.perf_counter(), start
  timed = {"seconds": 0.0, "steps": 0}  # training time after the first (compiling) interval
  val_loss = None
  pending: list = []  # (step, skipped flag) of the step whose flag is not read yet
  bad_first = [0]

  def save(step: int) -> None:
    state = {"params": params, "opt_state": opt_state, "frozen": frozen}
    meta = {"step": step, "data": train_it.get_state(), "identity": identity, **counts}
    ckpt.save(step, state, meta)

  def settle() -> None:
    """Counts the skipped steps dispatched so far (reads their flags from the device)."""
    while pending:
      s, flag = pending.pop(0)
      if bool(flag):
        counts["skipped_steps"] += 1
        counts["bad_streak"] += 1
        bad_first[0] = bad_first[0] if counts["bad_streak"] > 1 else s
      else:
        counts["bad_streak"] = 0

  stopped, step = None, start
  for step in range(start + 1, stop + 1):
    batch = shard_batch(next(train_it), mesh)
    if stats is not None and (step == 1 or step % config.fira_stats_every == 0):
      stats(step, params, opt_state, frozen, batch)  # before the step: it donates its inputs
    fn = nan_step_fn if step in nan_steps else step_fn
    params, opt_state, metrics = fn(params, opt_state, frozen, batch)
    settle()  # the previous step's flag: one step stays in flight on the device
    pending.append((step, metrics["skipped"]))
    logging = step % config.log_every == 0 or step == stop
    evaluating = step % config.eval_every == 0 or step == config.steps
    checkpointing = step % config.checkpoint_every == 0 or step == stop
    if logging or evaluating or checkpointing or config.max_bad_steps <= counts["bad_streak"] + 1:
      settle()
    record = None
    if logging:
      loss = float(metrics["loss"])
      now = time.perf_counter()
      tok_s = (step - s_last) * tokens_per_step / max(now - t_last, 1e-9)
      if s_last > start:
        timed["seconds"] += now - t_last
        timed["steps"] += step - s_last
      t_last, s_last = now, step
      record = {
        "step": step,
        "loss": loss,
        "lr": float(lr_at(step - 1)),
        "grad_norm": float(metrics["grad_norm"]),
        "tokens_per_s": tok_s,
        "skipped_steps": counts["skipped_steps"],
      }
      for key in ("residual_norm", "limited_frac", "growth_max"):
        if key in metrics:
          record[key] = float(metrics[key])
      bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{tok_s:,.0f}")
    if evaluating:
      val_loss = evaluate(eval_fn, params, frozen, data.val, config.batch_size, n_eval, mesh)
      record = (record or {"step": step}) | {"val_loss": val_loss, "val_ppl": perplexity(val_loss)}
    if record is not None and is_main:
      log.write(record)
    if counts["bad_streak"] >= config.max_bad_steps:
      stopped = "non-finite"
      break
    if preemption.reached(step):
      stopped = preemption.signal_name
    if checkpointing or stopped:
      save(step)
    if step == s_last:
      t_last = time.perf_counter()  # throughput counts training steps, not eval/checkpoints
    bar.update(1)
    if step_delay:
      time.sleep(step_delay)
    if stopped:
      break
  bar.close()
  ckpt.wait()
  if stopped == "non-finite":
    last = ckpt.latest_step()
    kept = f"the last checkpoint (step {last}) is intact" if last else "no checkpoint was written"
    raise NonFiniteError(
      f"{counts['bad_streak']} consecutive steps ({bad_first[0]}-{step}) had a non-finite loss "
      f"or gradient and were skipped; stopped ({kept}). Lower --lr, set --clip, or check the "
      "data; --max-bad-steps sets the limit"
    )

  seconds = timed["seconds"]
  summary = {
    "model": config.model,
    "optimizer": config.optimizer,
    "steps_done": step,
    "stopped": stopped,
    "skipped_steps": counts["skipped_steps"],
    "params": int(sum(x.size for x in jax.tree.leaves(params))),
    "frozen_params": int(sum(x.size for x in jax.tree.leaves(frozen))),
    "optimizer_state_bytes": state_bytes(opt_state),
    "tokens_per_s": timed["steps"] * tokens_per_step / seconds if seconds > 0 else None,
    "val_loss": val_loss,
    "val_ppl": perplexity(val_loss) if val_loss is not None else None,
    "config": dataclasses.asdict(config),
  }
  if is_main:
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
  return summary


__all__ = ["NonFiniteError", "TrainConfig", "evaluate", "train"]
