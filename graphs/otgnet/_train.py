"""The class-incremental loop: per task, train with replay, early-stop on validation accuracy,
fill the accuracy matrix, then select triads (or ER edges / EWC Fisher / LwF teacher)."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from fira_jax.lab import seeds
from fira_jax.lab.metrics import progress_bar
from graphs._temporal import NeighborIndex, event_batches
from graphs.otgnet._config import OTGNetConfig
from graphs.otgnet._data import OTGData, TaskSplit, split_tasks
from graphs.otgnet._metrics import average_performance_forgetting
from graphs.otgnet._model import CLUB, MINE, IBMap, OTGNet, forward, init_memory
from graphs.otgnet._step import eval_forward, train_step
from graphs.otgnet._triads import (
  Triads,
  coverage_radius,
  greedy_select,
  knn_pseudo_labels,
  triad_candidates,
)

__all__ = ["train_otgnet", "training_labels"]


def training_labels(data: OTGData, splits: list[TaskSplit], upto: int) -> np.ndarray:
  """``[N + 1]`` labels training may see: train nodes of tasks ``<= upto``; -1 elsewhere and on
  every node that is scored (a val/test-inductive node of the task of its own class)."""
  lab = np.full_like(data.node_labels, -1)
  for sp in splits[: upto + 1]:
    lab[sp.train_nodes] = data.node_labels[sp.train_nodes]
  for k, sp in enumerate(splits):
    scored = np.concatenate([sp.test_inductive, sp.val_inductive])
    scored = scored[data.node_labels[scored] // data.n_class == k]
    lab[scored] = -1
  return lab


def _batch(stream, pos, mask, is_new, index, centre_labels, k, extra):
  src, dst, t = stream.src[pos], stream.dst[pos], stream.t[pos].astype(np.float64)
  b = {
    "src": src,
    "dst": dst,
    "mask": mask,
    "is_new": is_new,
    "src_label": np.where(mask > 0, centre_labels[src], -1),
    "dst_label": np.where(mask > 0, centre_labels[dst], -1),
  }
  for side, nodes in (("src", src), ("dst", dst)):
    ids, nt, _, nm = index.most_recent(np.where(mask > 0, nodes, 0), t, k)
    b[f"{side}_nbr"], b[f"{side}_dt"], b[f"{side}_nmask"] = (
      ids,
      (t[:, None] - nt) * nm,
      nm.astype(np.float32),
    )
  b.update(extra)
  return {
    n: jnp.asarray(v, jnp.float32 if v.dtype.kind == "f" else jnp.int32) for n, v in b.items()
  }


class _Replay:
  def __init__(self, d):
    self.pos = np.zeros(0, np.int64)
    self.pairs = {"pos": np.zeros((0, 2), np.int64), "neg": np.zeros((0, 2), np.int64)}
    self.snap_ids = np.zeros(0, np.int64)
    self.snap_vals = np.zeros((0, d), np.float32)

  def extra(self, n_nodes, d):
    snap_ids = self.snap_ids if len(self.snap_ids) else np.asarray([n_nodes + 1])
    snap_vals = self.snap_vals if len(self.snap_ids) else np.zeros((1, d), np.float32)
    out = {"snap_ids": snap_ids, "snap_vals": snap_vals}
    for name in ("pos", "neg"):
      p = self.pairs[name]
      out[name] = p if len(p) else np.zeros((1, 2), np.int64)
      out[f"{name}_mask"] = np.ones(len(p), np.float32) if len(p) else np.zeros(1, np.float32)
    return out


def _stream_eval(model, g, memory, ctx, data, pos, index, centre, cfg, write, extra):
  """Streams ``pos`` in eval mode; returns (last prediction per node for every head, memory)."""
  preds: dict[int, np.ndarray] = {}
  for eb in event_batches(data.stream.subset(pos), cfg.batch_size):
    real = eb.pos >= 0
    p = pos[np.where(real, eb.pos, 0)]
    b = _batch(data.stream, p, eb.mask, eb.mask, index, centre, cfg.num_neighbors, extra)
    ls, ld, new_mem = eval_forward(model, g, memory, ctx, b, cfg=cfg)
    if write:
      memory = new_mem
    ls, ld = np.asarray(ls.argmax(-1)), np.asarray(ld.argmax(-1))
    for j in np.flatnonzero(real):
      preds[int(data.stream.src[p[j]])] = ls[j]
      preds[int(data.stream.dst[p[j]])] = ld[j]
  return preds, memory


def _accuracy(preds, nodes, labels, task, n_class):
  nodes = nodes[labels[nodes] // n_class == task]
  hits = [preds[int(v)][task] == labels[v] % n_class for v in nodes if int(v) in preds]
  return float(np.mean(hits)) if hits else float("nan")


def _param_grads(model, g, memory, ctx, b, cfg, n_class, rows):
  """Per-node CE gradients (flattened) of the endpoint selected by ``rows`` (0 src, 1 dst)."""
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)

  def loss(p, bi, side):
    m = nnx.merge(graphdef, p, rest)
    out = forward(
      m,
      g,
      memory,
      ctx,
      bi,
      use_ib=cfg.use_ib,
      ib_on_message=cfg.ib_on_message,
      mask_padding=cfg.mask_padding,
      store_size=1,
    )
    lab = jnp.where(side == 0, bi["src_label"], bi["dst_label"])[0]
    lg = jnp.where(side == 0, out.logits_src, out.logits_dst)[0, lab // n_class]
    return optax.softmax_cross_entropy_with_integer_labels(lg, lab % n_class)

  fn = jax.jit(
    jax.vmap(lambda bi, s: jax.flatten_util.ravel_pytree(jax.grad(loss)(params, bi, s))[0])
  )
  out = []
  n = len(rows)
  for lo in range(0, n, 64):
    sl = slice(lo, min(lo + 64, n))
    bi = jax.tree.map(lambda a, sl=sl: a[sl][:, None], b)
    out.append(np.asarray(fn(bi, jnp.asarray(rows[sl]))))
  return np.concatenate(out) if out else np.zeros((0, 1))


def _node_first_edges(data, pos, labels):
  """For every labelled node of the edges ``pos``: (stream position, side) of its first edge."""
  first: dict[int, tuple[int, int]] = {}
  for p in pos:
    for side, v in ((0, data.stream.src[p]), (1, data.stream.dst[p])):
      if labels[v] >= 0 and int(v) not in first:
        first[int(v)] = (int(p), side)
  nodes = np.asarray(sorted(first), np.int64)
  return (
    nodes,
    np.asarray([first[v][0] for v in nodes], np.int64),
    np.asarray([first[v][1] for v in nodes]),
  )


def train_otgnet(
  data: OTGData,
  config: OTGNetConfig | None = None,
  *,
  seed: int = 0,
  epochs: int = 50,
  progress: bool = False,
  splits: list[TaskSplit] | None = None,
) -> dict:
  """Trains OTGNet (or a baseline, by ``config``) over the tasks of ``data``.

  Returns:
    A dict with ``acc`` (the ``[T, T]`` accuracy matrix, NaN above the diagonal), ``ap``,
    ``af``, ``loss`` (mean training loss per epoch per task), ``epochs_run`` and
    ``seconds_per_epoch``.
  """
  cfg = config or OTGNetConfig()
  splits = splits or split_tasks(data)
  n_task, nc, d = data.n_task, data.n_class, cfg.memory_dim
  n_nodes = data.stream.num_nodes
  rngs = nnx.Rngs(params=seeds.seed_int(seed, "init"), dropout=seeds.seed_int(seed, "dropout"))
  model = OTGNet(
    data.features.shape[1],
    d,
    cfg.time_dim,
    cfg.hidden_dim,
    n_task,
    nc,
    update=cfg.update,
    dropout=cfg.dropout,
    rngs=rngs,
  )
  g = IBMap(d, rngs=rngs)
  mine = MINE(d, rngs=rngs)
  mem0 = init_memory(seeds.key(seed, "memory"), n_nodes, d)
  feats = jnp.asarray(data.features)
  rng = seeds.np_rng(seed, "triads")
  step_key = seeds.key(seed, "ib")
  replay = _Replay(d)
  acc = np.full((n_task, n_task), np.nan)
  task_mem, losses, n_epochs, t_epochs = {}, [], 0, 0.0
  ewc = None
  old = None
  radius = None
  y_dim = n_task * nc
  for tau in range(n_task):
    sp = splits[tau]
    lab_train = training_labels(data, splits, tau)
    ctx = {"features": feats, "labels": jnp.asarray(lab_train), "task": jnp.asarray(tau)}
    if ewc is not None:
      ctx["ewc_anchor"], ctx["ewc_fisher"] = ewc
    train_pos = sp.train_edges
    if cfg.joint:
      train_pos = np.sort(np.concatenate([s.train_edges for s in splits[: tau + 1]]))
    index = NeighborIndex(data.stream.subset(np.union1d(train_pos, replay.pos)))
    np.concatenate([sp.test_inductive])
    eval_index = NeighborIndex(data.stream.subset(sp.all_edges), exclude=sp.test_inductive)
    steps = -(-len(train_pos) // cfg.batch_size)
    sched = optax.exponential_decay(cfg.lr, max(cfg.lr_halve_every, 1) * steps, 0.5, staircase=True)
    opt = nnx.Optimizer(model, optax.adam(sched if cfg.lr_halve_every else cfg.lr), wrt=nnx.Param)
    club = CLUB(d, y_dim, rngs=rngs)
    ib_opts = tuple(nnx.Optimizer(m, optax.adam(cfg.ib_lr), wrt=nnx.Param) for m in (g, club, mine))
    extra = replay.extra(n_nodes, d)
    rep = replay.pos
    best, bad, task_losses = (-1.0, None), 0, []
    bar = progress_bar(epochs, 0, f"task {tau}", not progress, "epoch")
    for epoch in range(epochs):
      t0 = time.perf_counter()
      model.train()
      memory, total = mem0, []
      for eb in event_batches(data.stream.subset(train_pos), cfg.batch_size):
        real = eb.pos >= 0
        p = np.concatenate([train_pos[np.where(real, eb.pos, 0)], rep])
        mask = np.concatenate([eb.mask, np.ones(len(rep), np.float32)])
        is_new = np.concatenate([eb.mask, np.zeros(len(rep), np.float32)])
        b = _batch(data.stream, p, mask, is_new, index, lab_train, cfg.num_neighbors, extra)
        step_key, k = jax.random.split(step_key)
        loss, _, memory = train_step(
          model,
          opt,
          g,
          club,
          mine,
          ib_opts,
          old,
          memory,
          ctx,
          b,
          k,
          jnp.asarray(epoch < cfg.ib_warm_epochs),
          cfg=cfg,
          n_class=nc,
          y_dim=y_dim,
        )
        total.append(float(loss))
      task_losses.append(float(np.mean(total)))
      val_acc, mem_eval, test_mem = _evaluate_task(
        model, g, mem0, feats, data, sp, tau, index, eval_index, lab_train, cfg, extra
      )
      n_epochs += 1
      t_epochs += time.perf_counter() - t0
      bar.update(1)
      bar.set_postfix(loss=f"{task_losses[-1]:.3f}", val=f"{val_acc:.3f}")
      score = -1.0 if np.isnan(val_acc) else val_acc
      if score > best[0]:
        best, bad = (score, (nnx.state(model), nnx.state(g), test_mem, mem_eval)), 0
      else:
        bad += 1
        if bad >= cfg.patience:
          break
    bar.close()
    losses.append(task_losses)
    nnx.update(model, best[1][0])
    nnx.update(g, best[1][1])
    task_mem[tau] = best[1][2]
    model.eval()
    for k in range(tau + 1):
      mem_k = task_mem[k] if cfg.eval_memory == "own_task" else task_mem[tau]
      acc[tau, k] = _test_task(model, g, mem_k, feats, data, splits[k], k, cfg, extra)
    if tau < n_task - 1:
      if cfg.replay and not cfg.er_replay:
        radius = _select_triads(
          model, g, best[1][3], feats, data, sp, tau, index, lab_train, cfg, replay, rng, radius
        )
      elif cfg.er_replay:
        budget = 2 * 2 * cfg.triads_per_class * nc
        replay.pos = np.union1d(
          replay.pos, rng.choice(sp.train_edges, min(budget, len(sp.train_edges)), replace=False)
        )
      if cfg.ewc_lambda > 0:
        ewc = _fisher(model, g, best[1][3], ctx, data, train_pos, index, lab_train, cfg, ewc)
      if cfg.lwf_weight > 0:
        old = nnx.clone(model)
  ap, af = average_performance_forgetting(acc)
  return {
    "acc": acc.tolist(),
    "ap": ap,
    "af": af,
    "loss": losses,
    "epochs_run": n_epochs,
    "seconds_per_epoch": t_epochs / max(n_epochs, 1),
    "radius": radius,
  }


def _pseudo_centre(data, sp, task, index, cfg):
  centre = data.node_labels.copy()
  inductive = np.union1d(sp.test_inductive, sp.val_inductive)
  classes = np.arange(task * data.n_class, (task + 1) * data.n_class)
  centre[inductive] = knn_pseudo_labels(
    index, inductive, data.node_labels, classes, cfg.pseudo_label_neighbors
  )
  return centre


def _evaluate_task(model, g, mem0, feats, data, sp, tau, index, eval_index, lab_train, cfg, extra):
  """Eval-mode pass: train edges, then validation (written); returns val acc and memories."""
  model.eval()
  ctx = {"features": feats, "labels": jnp.asarray(data.node_labels), "task": jnp.asarray(tau)}
  _, mem = _stream_eval(
    model,
    g,
    mem0,
    {**ctx, "labels": jnp.asarray(lab_train)},
    data,
    sp.train_edges,
    index,
    lab_train,
    cfg,
    True,
    extra,
  )
  mem_train = mem
  centre = _pseudo_centre(data, sp, tau, eval_index, cfg)
  preds, mem = _stream_eval(
    model, g, mem, ctx, data, sp.val_edges, eval_index, centre, cfg, True, extra
  )
  return _accuracy(preds, sp.val_inductive, data.node_labels, tau, data.n_class), mem_train, mem


def _test_task(model, g, memory, feats, data, sp, k, cfg, extra):
  """Accuracy on task ``k``'s test-inductive nodes (test pass without memory writes)."""
  eval_index = NeighborIndex(data.stream.subset(sp.all_edges), exclude=sp.test_inductive)
  ctx = {"features": feats, "labels": jnp.asarray(data.node_labels), "task": jnp.asarray(k)}
  centre = _pseudo_centre(data, sp, k, eval_index, cfg)
  preds, _ = _stream_eval(
    model, g, memory, ctx, data, sp.test_edges, eval_index, centre, cfg, False, extra
  )
  return _accuracy(preds, sp.test_inductive, data.node_labels, k, data.n_class)


def _importance(model, g, memory, ctx, data, pos, index, labels, cfg):
  """Min-max normalised ``-sum_p mean(grad_p l_v * grad_p L_bar)`` per labelled node."""
  nodes, first, side = _node_first_edges(data, pos, labels)
  one = np.ones(len(first), np.float32)
  b = _batch(data.stream, first, one, one, index, labels, cfg.num_neighbors, {})
  b = {
    **b,
    "snap_ids": jnp.full((len(first), 1), data.stream.num_nodes + 1),
    "snap_vals": jnp.zeros((len(first), 1, cfg.memory_dim)),
    "pos": jnp.zeros((len(first), 1, 2), jnp.int32),
    "neg": jnp.zeros((len(first), 1, 2), jnp.int32),
  }
  grads = _param_grads(model, g, memory, ctx, b, cfg, data.n_class, side)
  return nodes, grads


def _select_triads(model, g, memory, feats, data, sp, tau, index, labels, cfg, replay, rng, radius):
  ctx = {"features": feats, "labels": jnp.asarray(labels), "task": jnp.asarray(tau)}
  nodes, grads = _importance(model, g, memory, ctx, data, sp.train_edges, index, labels, cfg)
  imp_node = np.zeros(data.stream.num_nodes + 1)
  if cfg.importance == "grad_dot" and len(grads):
    raw = -(grads @ grads.mean(0))
    imp_node[nodes] = (raw - raw.min()) / max(raw.max() - raw.min(), 1e-12)
  else:
    imp_node[nodes] = rng.random(len(nodes))
  mem = np.asarray(memory)
  s = data.stream
  picked = []
  for c in range(tau * data.n_class, (tau + 1) * data.n_class):
    pos = sp.train_edges[
      (data.node_labels[s.src[sp.train_edges]] == c)
      & (data.node_labels[s.dst[sp.train_edges]] == c)
    ]
    for cand in triad_candidates(
      index, s.src[pos], s.dst[pos], s.t[pos], s.idx[pos], cfg.triad_window
    ):
      if not len(cand.nodes):
        continue
      uniq = [np.unique(r) for r in cand.nodes]
      imp = np.asarray([imp_node[u].mean() for u in uniq])
      emb = np.stack([mem[u].mean(0) for u in uniq])
      if cfg.triads == "random":
        sel = rng.permutation(len(imp))[: cfg.triads_per_class]
      else:
        top = np.argsort(-imp, kind="stable")[: cfg.triad_top]
        if radius is None or cfg.radius_per_call:
          radius = coverage_radius(emb[top], rng)
        sel = top[greedy_select(imp[top], emb[top], cfg.triads_per_class, cfg.gamma, radius)]
      picked.append(cand.take(sel))
  if not picked:
    return radius
  tri = Triads(*(np.concatenate(x) for x in zip(*picked, strict=True)))
  id_to_pos = {int(e): i for i, e in enumerate(s.idx)}
  new_pos = np.asarray([id_to_pos[int(e)] for e in tri.edges.reshape(-1)], np.int64)
  replay.pos = np.union1d(replay.pos, new_pos)
  real = tri.nodes[tri.real]
  replay.pairs["pos"] = np.concatenate([replay.pairs["pos"], real[:, [0, 1]]])
  replay.pairs["neg"] = np.concatenate([replay.pairs["neg"], real[:, [1, 2]]])
  ends = np.unique(np.concatenate([s.src[new_pos], s.dst[new_pos]]))
  nbrs, _, _, nm = index.most_recent(ends, None, cfg.num_neighbors)
  rows = np.unique(np.concatenate([ends, nbrs[nm]]))
  keep = ~np.isin(replay.snap_ids, rows)
  replay.snap_ids = np.concatenate([replay.snap_ids[keep], rows])
  replay.snap_vals = np.concatenate([replay.snap_vals[keep], mem[rows]])
  replay.triads = tri
  return radius


def _fisher(model, g, memory, ctx, data, pos, index, labels, cfg, prev):
  """Diagonal Fisher (mean squared per-node gradient) and the anchor parameters for EWC."""
  _, grads = _importance(model, g, memory, ctx, data, pos, index, labels, cfg)
  params = nnx.state(model, nnx.Param)
  _, unravel = jax.flatten_util.ravel_pytree(params)
  fisher = unravel(jnp.asarray((grads**2).mean(0)))
  if prev is not None:
    fisher = jax.tree.map(jnp.add, fisher, prev[1])
  return jax.tree.map(jnp.asarray, params), fisher
