"""Meta-training of PudNet on episodes, with orbax checkpoints and exact resume.

The meta-loss of a step is the mean over ``B`` episodes (unrolled, or ``jax.vmap``) of the
cross-entropy of the *generated* network on the episode's query images,

.. math:: \\mathcal L(H) = \\tfrac1B \\textstyle\\sum_b \\mathrm{CE}(f(x^q_b;\\, H(S_b)),\\, y^q_b)
   \\; [+\\ \\lambda_{ds} \\mathcal L_{deep} + \\lambda_{sc} \\mathcal L_{sketch}
   + \\lambda_{pr} \\tfrac1L \\textstyle\\sum_\\ell
   \\mathrm{mean}(\\theta_\\ell - \\theta^{T}_\\ell)^2],

back-propagated through θ = H(S) into H; θ^T (``aux_param_reg``) are the conv kernels trained
for T Adam steps on the episode's training images from a fixed initialisation. Episodes are
sampled inside the compiled step from ``fold_in(key, step)`` (no host round trip), so the step
is an ordinary :class:`fira_jax.lab.NNXTrainer` step whose "batch" is the on-device image pool.
Checkpoints, resume, SIGTERM and non-finite steps are handled by the shared harness
(:mod:`fira_jax.lab.checkpoint`, :mod:`fira_jax.lab.preemption`).
"""

from __future__ import annotations

import functools
import json
import pathlib
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from fira_jax.lab import MetricsLog, NNXTrainer, progress_bar, seeds
from fira_jax.lab.checkpoint import Checkpointer
from fira_jax.lab.preemption import Preemption
from hypernet._convnet import get_target, l2_normalize
from hypernet._pudnet import PudNet, prototypes
from hypernet._tasks import Pool, flatten, sample_episode
from hypernet.config import PudNetConfig

__all__ = ["build_pudnet", "meta_train", "MetaTrainResult", "meta_optimizer", "meta_loss_fn"]

ARCH_FIELDS = (
  "d", "gru_layers", "h", "skt_a", "learn_x1", "direction", "sketch_labels", "head",
  "weight_norm", "conditioning", "ahru",
)  # fmt: skip


def build_pudnet(cfg: PudNetConfig, seed: int, *, num_classes: int | None = None) -> PudNet:
  """The hypernetwork of ``cfg`` for its target, initialised from ``seed`` ("init" stream)."""
  target = get_target(cfg.target_name, norm="none" if cfg.target_norm == "none" else "batch")
  return PudNet(
    target,
    num_classes or cfg.way,
    sketch_classes=10 if cfg.aux_sketch_cls else 0,
    rngs=nnx.Rngs(params=seeds.key(seed, "init")),
    **{f: getattr(cfg, f) for f in ARCH_FIELDS},
  )


@functools.cache
def meta_optimizer(lr: float, b1: float, b2: float) -> optax.GradientTransformation:
  """Adam (one object per setting, so compiled steps are reused across seeds)."""
  return optax.adam(lr, b1=b1, b2=b2)


def _ce(logits, labels):
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


@functools.cache
def meta_loss_fn(
  k: int,
  n_support: int,
  n_query: int,
  meta_batch: int,
  permute: bool = True,
  query_includes_sketch: bool = False,
  aux_deep_sup: float = 0.0,
  aux_sketch_cls: float = 0.0,
  episode_map: str = "unroll",
  aux_param_reg: float = 0.0,
  aux_param_steps: int = 20,
):
  """The NNX loss ``(model, pool, key) -> (loss, {"ce", "acc"})`` of one meta-step."""

  def episode_loss(model: PudNet, ep):
    sx, sy = flatten(ep.train[:, :n_support])
    qx, qy = flatten(ep.train[:, n_support:])
    if query_includes_sketch:
      qx, qy = jnp.concatenate([sx, qx]), jnp.concatenate([sy, qy])
    params, state, s = model.generate(sx, sy)
    tgt = model.target
    feat, _, taps_q = tgt.features(params, state, qx, train=False)
    logits = feat @ params["head"]["kernel"] + params["head"]["bias"]
    ce = _ce(logits, qy)
    loss = ce
    if aux_deep_sup:
      _, _, taps_s = tgt.features(params, state, sx, train=False)
      deep = [
        _ce(10.0 * l2_normalize(tq) @ prototypes(l2_normalize(ts), sy, k).T, qy)
        for ts, tq in zip(taps_s[:-1], taps_q[:-1], strict=True)
      ]
      loss = loss + aux_deep_sup * jnp.mean(jnp.stack(deep))
    if aux_sketch_cls:
      present = jnp.zeros(model.sketch_probe.out_features).at[ep.classes].set(1.0)
      loss = (
        loss
        + aux_sketch_cls * optax.sigmoid_binary_cross_entropy(model.sketch_probe(s), present).mean()
      )
    if aux_param_reg:
      x_all, y_all = flatten(ep.train)
      ref = _reference_kernels(tgt, x_all, y_all, k, aux_param_steps)
      mse = [jnp.mean((params["kernels"][n] - w) ** 2) for n, w in ref.items()]
      loss = loss + aux_param_reg * jnp.mean(jnp.stack(mse))
    return loss, (ce, (logits.argmax(-1) == qy).mean())

  def loss_fn(model: PudNet, pool: Pool, key: jax.Array):
    B = meta_batch  # noqa: N806
    keys = jax.random.split(key, B)
    eps = jax.vmap(
      lambda kk: sample_episode(
        pool, kk, k=k, n_train=n_support + n_query, n_test=0, permute=permute
      )
    )(keys)
    if episode_map == "vmap":
      loss, (ce, acc) = jax.vmap(episode_loss, in_axes=(None, 0))(model, eps)
    else:  # unrolled: plain convolutions (vmap/scan make XLA:CPU's kernel gradients ~10x slower)
      outs = [episode_loss(model, jax.tree.map(lambda a, b=b: a[b], eps)) for b in range(B)]
      loss, (ce, acc) = jax.tree.map(lambda *a: jnp.stack(a), *outs)
    return loss.mean(), {"ce": ce.mean(), "acc": acc.mean()}

  return loss_fn


def _reference_kernels(target, x, y, k: int, steps: int) -> dict:
  """Conv kernels of ``target`` trained for ``steps`` full-batch Adam steps (lr 1e-3) on
  ``(x, y)`` from a fixed He initialisation: the regression target of ``aux_param_reg``. The
  initialisation is the same for every episode, so the reference depends on the sub-dataset
  only (as if cached per sub-dataset); no gradient flows through it."""
  params = target.init(seeds.key(0, "aux-param-reg"), k)
  tx = optax.adam(1e-3)

  def step(carry, _):
    p, o = carry
    g = jax.grad(lambda p: _ce(target.apply(p, None, x, train=True)[0], y))(p)
    upd, o = tx.update(g, o, p)
    return (optax.apply_updates(p, upd), o), None

  (params, _), _ = jax.lax.scan(step, (params, tx.init(params)), length=steps)
  return jax.lax.stop_gradient(params["kernels"])


class MetaTrainResult(NamedTuple):
  """What :func:`meta_train` returns.

  Attributes:
    model: the meta-trained hypernetwork.
    history: the logged rows (``step``, ``loss``, ``ce``, ``acc``, ``seconds``,
      ``skipped_steps``), one per ``log_every`` steps.
    seconds: meta-training wall time after the first (compiling) step.
    start_step: the step the run continued from (> 0 after a resume).
    steps_done: the last step done (and checkpointed, with ``out_dir``).
    stopped: ``None``, the signal's name (``"SIGTERM"``, ``"SIGINT"``) when a signal stopped the
      run after checkpointing the step in flight, or ``"non-finite"`` after
      ``cfg.max_bad_steps`` consecutive skipped steps.
    skipped_steps: steps skipped because their meta-loss or gradient was not finite.
  """

  model: PudNet
  history: list
  seconds: float
  start_step: int
  steps_done: int = 0
  stopped: str | None = None
  skipped_steps: int = 0


def _identity(cfg: PudNetConfig, seed: int) -> dict:
  skip = ("log_every", "checkpoint_every", "max_bad_steps")
  fields = {k: v for k, v in cfg.__dict__.items() if k not in skip}
  return {"config": json.loads(json.dumps(fields)), "seed": seed}


def meta_train(
  cfg: PudNetConfig,
  seed: int,
  pool: Pool,
  *,
  steps: int | None = None,
  out_dir: str | pathlib.Path | None = None,
  progress: bool = False,
  model: PudNet | None = None,
) -> MetaTrainResult:
  """Meta-trains a PudNet for ``steps`` (default ``cfg.meta_steps``) steps on episodes of
  ``pool``; the episodes of step ``t`` come from ``fold_in(key(seed, "episodes"), t)``.

  A step whose meta-loss or gradient is not finite leaves the hypernetwork and Adam's state
  unchanged and is counted (``skipped_steps``); ``cfg.max_bad_steps`` consecutive ones stop the
  run (``stopped="non-finite"``, nothing saved for them). The skip flags stay on the device until
  the next log line or checkpoint (where the streak is checked), so the loop has no host round
  trip per step.

  With ``out_dir``, checkpoints of ``{model, optimizer state}``
  (:class:`fira_jax.lab.checkpoint.Checkpointer`: atomic, the newest two kept, a corrupt newest
  one falls back to the previous with a one-line warning) are written every
  ``cfg.checkpoint_every`` steps and at the end, the metrics to ``out_dir/metrics.jsonl``; a
  later call with the same ``out_dir`` and config resumes from the last checkpoint and gives the
  same parameters as an uninterrupted run. A checkpoint of another config or seed is refused
  (``ValueError``). SIGTERM/SIGINT then finish the step in flight, checkpoint it and return with
  ``stopped`` set to the signal's name (:class:`fira_jax.lab.preemption.Preemption`; the command
  line exits with :data:`fira_jax.lab.preemption.EXIT_PREEMPTED`).
  """
  total = cfg.meta_steps if steps is None else steps
  model = model if model is not None else build_pudnet(cfg, seed)
  loss_fn = meta_loss_fn(
    cfg.way, cfg.n_support, cfg.n_query, cfg.meta_batch, cfg.head != "canonical_fc",
    cfg.query_includes_sketch, cfg.aux_deep_sup, cfg.aux_sketch_cls, cfg.episode_map,
    cfg.aux_param_reg, cfg.aux_param_steps,
  )  # fmt: skip
  trainer = NNXTrainer(model, meta_optimizer(cfg.lr, cfg.b1, cfg.b2), loss_fn, skip_nonfinite=True)
  key = seeds.key(seed, "episodes")
  ident = _identity(cfg, seed)
  start, ckpt, log, counts = 0, None, None, {"skipped_steps": 0, "bad_streak": 0}
  if out_dir is not None:
    ckpt = Checkpointer(out_dir)

    def check(meta: dict) -> None:
      if meta.get("identity") != ident:
        raise ValueError(
          f"checkpoint in {out_dir} is from another config or seed; use the same settings or "
          "another output folder"
        )

    try:
      restored = trainer.restore_checkpoint(ckpt, check=check)
    except BaseException:
      ckpt.close()
      raise
    if restored is not None:
      start = restored.step
      counts["skipped_steps"] = int(restored.meta.get("skipped_steps", 0))
    log = MetricsLog(out_dir, resume_step=start)

  pending: list = []  # skip flags of dispatched steps not read yet

  def settle() -> None:
    while pending:
      bad = bool(pending.pop(0))
      counts["skipped_steps"] += bad
      counts["bad_streak"] = (counts["bad_streak"] + 1) * bad

  def save(step: int) -> None:
    if ckpt is not None:
      trainer.save_checkpoint(
        ckpt, step, {"identity": ident, "skipped_steps": counts["skipped_steps"]}
      )

  history, tic, t_first, done, stopped = [], time.perf_counter(), None, start, None
  bar = progress_bar(total, initial=start, desc=f"meta-train seed {seed}", disable=not progress)
  try:
    with Preemption(enabled=ckpt is not None) as preemption:
      for step in range(start, total):
        loss, aux = trainer.step(pool, jax.random.fold_in(key, step))
        pending.append(trainer.last_skipped)  # read at the next log line or checkpoint
        done = step + 1
        if t_first is None:
          jax.block_until_ready(loss)
          t_first = time.perf_counter()
        bar.update(1)
        logging = done % cfg.log_every == 0 or done == total
        checkpointing = bool(cfg.checkpoint_every) and done % cfg.checkpoint_every == 0
        if logging or checkpointing:
          settle()
        if counts["bad_streak"] >= cfg.max_bad_steps:
          stopped = "non-finite"
          break
        if preemption.reached(done):
          stopped = preemption.signal_name
          settle()
        if logging or stopped:
          row = {"step": done, "loss": float(loss), **{k: float(v) for k, v in aux.items()}}
          row["seconds"] = time.perf_counter() - tic
          row["skipped_steps"] = counts["skipped_steps"]
          history.append(row)
          bar.set_postfix(loss=f"{row['loss']:.4f}", acc=f"{row['acc']:.3f}")
          if log is not None:
            log.write(row)
        if checkpointing or stopped or done == total:
          save(done)
        if stopped:
          break
  finally:
    bar.close()
    if ckpt is not None:
      ckpt.close()
  seconds = time.perf_counter() - t_first if t_first is not None else 0.0
  return MetaTrainResult(
    trainer.model, history, seconds, start, done, stopped, counts["skipped_steps"]
  )
