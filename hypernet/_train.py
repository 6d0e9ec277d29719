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
"""

from __future__ import annotations

import functools
import json
import pathlib
import time

import jax
import jax.numpy as jnp
import optax
import orbax.checkpoint as ocp
from flax import nnx

from fira_jax.lab import MetricsLog, NNXTrainer, progress_bar, seeds
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


class MetaTrainResult:
  """What :func:`meta_train` returns: the trained ``model``, the logged ``history`` (one dict
  per log line), ``seconds`` of meta-training after the first (compiling) step, and
  ``start_step`` (> 0 after a resume)."""

  def __init__(self, model, history, seconds, start_step):
    self.model, self.history, self.seconds, self.start_step = model, history, seconds, start_step


def _flat(tree) -> dict:
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {jax.tree_util.keystr(p, simple=True, separator="/"): x for p, x in leaves}


def _identity(cfg: PudNetConfig, seed: int) -> dict:
  fields = {k: v for k, v in cfg.__dict__.items() if k not in ("log_every", "checkpoint_every")}
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
  ``pool``.

  With ``out_dir``, orbax checkpoints of ``{model, optimizer state}`` and the step are written
  every ``cfg.checkpoint_every`` steps and at the end, the metrics to
  ``out_dir/metrics.jsonl``; a later call with the same ``out_dir`` and config resumes from the
  last checkpoint and gives the same parameters as an uninterrupted run (episodes depend on the
  step only). A checkpoint from another config or seed is refused.
  """
  total = cfg.meta_steps if steps is None else steps
  model = model if model is not None else build_pudnet(cfg, seed)
  loss_fn = meta_loss_fn(
    cfg.way, cfg.n_support, cfg.n_query, cfg.meta_batch, cfg.head != "canonical_fc",
    cfg.query_includes_sketch, cfg.aux_deep_sup, cfg.aux_sketch_cls, cfg.episode_map,
    cfg.aux_param_reg, cfg.aux_param_steps,
  )  # fmt: skip
  trainer = NNXTrainer(model, meta_optimizer(cfg.lr, cfg.b1, cfg.b2), loss_fn)
  key = seeds.key(seed, "episodes")
  start, mngr, log = 0, None, None
  if out_dir is not None:
    out_dir = pathlib.Path(out_dir).absolute()
    mngr = ocp.CheckpointManager(
      out_dir / "checkpoints",
      options=ocp.CheckpointManagerOptions(max_to_keep=2, create=True),
      item_names=("state", "meta"),
    )
    ident = _identity(cfg, seed)
    last = mngr.latest_step()
    if last is not None:
      meta = mngr.restore(last, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
      if meta["identity"] != ident:
        raise ValueError(
          f"checkpoint in {out_dir} is from another config or seed; use the same settings or "
          "another output folder"
        )
      flat = _flat(trainer.state)
      abstract = {n: jax.ShapeDtypeStruct(x.shape, x.dtype) for n, x in flat.items()}
      restored = mngr.restore(
        last, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract))
      )["state"]
      leaves, treedef = jax.tree_util.tree_flatten_with_path(trainer.state)
      trainer.state = jax.tree.unflatten(
        treedef,
        [
          jnp.asarray(restored[jax.tree_util.keystr(p, simple=True, separator="/")])
          for p, _ in leaves
        ],
      )
      start = last
    log = MetricsLog(out_dir, resume_step=start)

  def save(step):
    if mngr is not None:
      mngr.save(
        step,
        args=ocp.args.Composite(
          state=ocp.args.StandardSave(_flat(trainer.state)),
          meta=ocp.args.JsonSave({"identity": _identity(cfg, seed), "step": step}),
        ),
      )

  history, tic, t_first = [], time.perf_counter(), None
  bar = progress_bar(total, initial=start, desc=f"meta-train seed {seed}", disable=not progress)
  try:
    for step in range(start, total):
      loss, aux = trainer.step(pool, jax.random.fold_in(key, step))
      done = step + 1
      if t_first is None:
        jax.block_until_ready(loss)
        t_first = time.perf_counter()
      bar.update(1)
      if done % cfg.log_every == 0 or done == total:
        row = {"step": done, "loss": float(loss), **{k: float(v) for k, v in aux.items()}}
        row["seconds"] = time.perf_counter() - tic
        history.append(row)
        bar.set_postfix(loss=f"{row['loss']:.4f}", acc=f"{row['acc']:.3f}")
        if log is not None:
          log.write(row)
      if cfg.checkpoint_every and done % cfg.checkpoint_every == 0 and done != total:
        save(done)
    if total > start:
      save(total)
  finally:
    bar.close()
    if mngr is not None:
      mngr.wait_until_finished()
      mngr.close()
  seconds = time.perf_counter() - t_first if t_first is not None else 0.0
  return MetaTrainResult(trainer.model, history, seconds, start)
