"""The class-incremental loop: per task, train with replay, early-stop on validation accuracy,
fill the accuracy matrix, then select triads (or ER edges / EWC Fisher / LwF teacher)."""

from __future__ import annotations

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.flatten_util import ravel_pytree
from jax.sharding import NamedSharding, PartitionSpec

from fira_jax.lab import seeds
from fira_jax.lab.metrics import progress_bar
from graphs._temporal import NeighborIndex, event_batches
from graphs.otgnet._config import OTGNetConfig
from graphs.otgnet._data import OTGData, TaskSplit, split_tasks
from graphs.otgnet._importance import gradient_stats, influence
from graphs.otgnet._metrics import average_performance_forgetting
from graphs.otgnet._model import CLUB, MINE, IBMap, OTGNet, init_memory
from graphs.otgnet._step import Learners, eval_forward, train_step
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


_NOT_BATCH = ("snap_ids", "snap_vals", "pos", "neg", "pos_mask", "neg_mask")


def _pad(a: np.ndarray, size: int, value=0) -> np.ndarray:
  """``a`` padded along axis 0 to ``size`` rows with ``value``."""
  return np.concatenate([a, np.full((size - len(a), *a.shape[1:]), value, a.dtype)])


class _Replay:
  """Replay edges, pattern pairs and the memory snapshot, padded to fixed sizes so that one
  compiled step serves every task: ``edges`` stream positions, ``pairs`` pattern pairs,
  ``snapshot`` memory rows (at most ``N + 1``)."""

  def __init__(self, d: int, n_nodes: int, max_edges: int, max_pairs: int):
    self.d, self.n_nodes = d, n_nodes
    self.max_edges, self.max_pairs = max_edges, max(max_pairs, 1)
    self.pos = np.zeros(0, np.int64)
    self.pairs = {"pos": np.zeros((0, 2), np.int64), "neg": np.zeros((0, 2), np.int64)}
    self.snap_ids = np.zeros(0, np.int64)
    self.snap_vals = np.zeros((0, d), np.float32)
    self.triads = None
    self.log: list[dict] = []  # every selected triad: task, class, kind, nodes (s, d, u), real

  def extra(self, snapshot: bool = True) -> dict[str, np.ndarray]:
    """Snapshot (ids out of range on padding) and masked pattern pairs, all fixed-size."""
    n = self.n_nodes + 1
    ids = self.snap_ids if snapshot else self.snap_ids[:0]
    vals = self.snap_vals if snapshot else self.snap_vals[:0]
    out = {"snap_ids": _pad(ids, n, n), "snap_vals": _pad(vals.astype(np.float32), n)}
    for name in ("pos", "neg"):
      p = self.pairs[name]
      out[name] = _pad(p, self.max_pairs)
      out[f"{name}_mask"] = _pad(np.ones(len(p), np.float32), self.max_pairs)
    return out

  def rows(self):
    """``(positions, mask)`` of the replay rows, padded to ``max_edges``."""
    pos = self.pos
    return _pad(pos, self.max_edges), _pad(np.ones(len(pos), np.float32), self.max_edges)


def _train_batches(data, train_pos, replay, index, labels, cfg, rows, sharding):
  """The task's training batches (fixed ``rows`` rows: new edges, replay edges, padding)."""
  rep, rep_mask = replay.rows()
  extra = replay.extra()
  out = []
  for eb in event_batches(data.stream.subset(train_pos), cfg.batch_size):
    real = eb.pos >= 0
    fill = rows - len(eb.mask) - len(rep)
    p = np.concatenate([train_pos[np.where(real, eb.pos, 0)], rep, np.zeros(fill, np.int64)])
    mask = np.concatenate([eb.mask, rep_mask, np.zeros(fill, np.float32)])
    is_new = np.concatenate([eb.mask, np.zeros(len(rep) + fill, np.float32)])
    b = _batch(data.stream, p, mask, is_new, index, labels, cfg.num_neighbors, extra)
    if sharding is not None:
      shard, repl = sharding
      b = {n: jax.device_put(v, repl if n in _NOT_BATCH else shard) for n, v in b.items()}
    out.append(b)
  return out


def _eval_batches(data, pos, index, centre, cfg, extra):
  """``(batch, stream positions, real-row mask)`` per eval batch of the events ``pos``."""
  out = []
  for eb in event_batches(data.stream.subset(pos), cfg.batch_size):
    real = eb.pos >= 0
    p = pos[np.where(real, eb.pos, 0)]
    b = _batch(data.stream, p, eb.mask, eb.mask, index, centre, cfg.num_neighbors, extra)
    out.append((b, p, real))
  return out


def _stream_eval(model, g, memory, ctx, batches, data, cfg, write, scored=None):
  """Streams eval batches; returns (last prediction per node for every head, memory).

  With ``cfg.official_eval`` (and ``scored`` given) the official bookkeeping is reproduced:
  per batch all source rows, then all destination rows; the predictions of the rows whose node
  is scored are keyed by the first node ids of the batch's real rows.
  """
  preds: dict[int, np.ndarray] = {}
  official = cfg.official_eval and scored is not None
  for b, p, real in batches:
    ls, ld, new_mem = eval_forward(model, g, memory, ctx, b, cfg=cfg)
    if write:
      memory = new_mem
    ls, ld = np.asarray(ls.argmax(-1)), np.asarray(ld.argmax(-1))
    rows = np.flatnonzero(real)
    if official:
      for nodes, pred in ((data.stream.src[p], ls), (data.stream.dst[p], ld)):
        sel = rows[np.isin(nodes[rows], scored)]
        for key, j in zip(nodes[rows][: len(sel)], sel, strict=True):
          preds[int(key)] = pred[j]
      continue
    for j in rows:
      preds[int(data.stream.src[p[j]])] = ls[j]
      preds[int(data.stream.dst[p[j]])] = ld[j]
  return preds, memory


def _accuracy(preds, nodes, labels, task, n_class, official=False):
  """Accuracy of the last prediction of each of ``nodes`` of ``task``'s classes (with
  ``official``: of every recorded key of the task's classes, as the official bookkeeping
  compares a key's label with the prediction stored under it)."""
  if official:
    nodes = np.asarray(sorted(preds), np.int64)
  nodes = nodes[labels[nodes] // n_class == task]
  hits = [preds[int(v)][task] == labels[v] % n_class for v in nodes if int(v) in preds]
  return float(np.mean(hits)) if hits else float("nan")


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


@functools.cache
def _adam(lr: float) -> optax.GradientTransformation:
  """Adam with an injectable learning rate; one object per rate so steps compile once."""
  return optax.inject_hyperparams(optax.adam)(learning_rate=lr)


def _round_up(n: int, m: int) -> int:
  return -(-n // m) * m


def train_otgnet(
  data: OTGData,
  config: OTGNetConfig | None = None,
  *,
  seed: int = 0,
  epochs: int = 50,
  progress: bool = False,
  splits: list[TaskSplit] | None = None,
  mesh: jax.sharding.Mesh | None = None,
) -> dict:
  """Trains OTGNet (or a baseline, by ``config``) over the tasks of ``data``.

  Every training batch has the same shape (``batch_size`` new edges, the replay buffer padded
  to its final size, masks), so the step compiles once for all tasks.

  Args:
    data: the class-incremental temporal graph.
    config: hyper-parameters and method switches (default :class:`OTGNetConfig`).
    seed: seeds initialisation, dropout, memory, the IB shuffles and triad sampling.
    epochs: maximum epochs per task (early stopping on validation accuracy).
    progress: show a progress bar per task.
    splits: the per-task node split (default :func:`split_tasks`).
    mesh: optional 1-axis device mesh; training batches are sharded over its axis (the rows
      are padded to a multiple of its size) and everything else is replicated.

  Returns:
    A dict with ``acc`` (the ``[T, T]`` accuracy matrix, NaN above the diagonal), ``ap``,
    ``af``, ``loss`` (mean training loss per epoch per task), ``epochs_run``,
    ``seconds_per_epoch``, ``radius`` (the triad coverage radius) and ``triads`` (one dict per
    selected triad: ``task``, ``class``, ``kind`` "closed"/"open", ``nodes`` (s, d, u) and
    ``real``, false for a degenerate fall-back).
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
  budget = 4 * cfg.triads_per_class * nc  # replay edges added per task (triads or ER)
  use_replay = cfg.replay or cfg.er_replay
  replay = _Replay(
    d,
    n_nodes,
    (n_task - 1) * budget if use_replay else 0,
    (n_task - 1) * 2 * cfg.triads_per_class * nc,
  )
  n_dev = 1 if mesh is None else mesh.size
  rows = _round_up(cfg.batch_size + replay.max_edges, n_dev)
  sharding = None
  if mesh is not None:
    axis = mesh.axis_names[0]
    sharding = (NamedSharding(mesh, PartitionSpec(axis)), NamedSharding(mesh, PartitionSpec()))
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
    eval_index = NeighborIndex(data.stream.subset(sp.all_edges), exclude=sp.test_inductive)
    opt = nnx.Optimizer(model, _adam(cfg.lr), wrt=nnx.Param)
    club = CLUB(d, y_dim, rngs=rngs)
    ib_opts = tuple(nnx.Optimizer(m, _adam(cfg.ib_lr), wrt=nnx.Param) for m in (g, club, mine))
    learners = Learners(model, opt, g, club, mine, ib_opts, old)
    batches = _train_batches(data, train_pos, replay, index, lab_train, cfg, rows, sharding)
    no_snap = replay.extra(snapshot=False)
    train_eval = _eval_batches(data, sp.train_edges, index, lab_train, cfg, no_snap)
    centre = _pseudo_centre(data, sp, tau, eval_index, cfg)
    val_eval = _eval_batches(data, sp.val_edges, eval_index, centre, cfg, no_snap)
    best, bad, task_losses = (-1.0, None), 0, []
    bar = progress_bar(epochs, 0, f"task {tau}", not progress, "epoch")
    for epoch in range(epochs):
      t0 = time.perf_counter()
      lr = cfg.lr * 0.5 ** (epoch // cfg.lr_halve_every) if cfg.lr_halve_every else cfg.lr
      opt.opt_state.hyperparams["learning_rate"][...] = lr
      model.train()
      memory, total = mem0, []
      warm = jnp.asarray(epoch < cfg.ib_warm_epochs)
      for b in batches:
        step_key, k = jax.random.split(step_key)
        loss, _, memory = train_step(
          learners, memory, ctx, b, k, warm, cfg=cfg, n_class=nc, y_dim=y_dim
        )
        total.append(loss)
      task_losses.append(float(np.mean(jax.device_get(total))))
      model.eval()
      _, mem_train = _stream_eval(model, g, mem0, ctx, train_eval, data, cfg, True)
      eval_ctx = {**ctx, "labels": jnp.asarray(data.node_labels)}
      scored = _scored(data, sp.val_inductive, tau)
      preds, test_mem = _stream_eval(
        model, g, mem_train, eval_ctx, val_eval, data, cfg, True, scored
      )
      val_acc = _accuracy(preds, sp.val_inductive, data.node_labels, tau, nc, cfg.official_eval)
      n_epochs += 1
      t_epochs += time.perf_counter() - t0
      bar.update(1)
      bar.set_postfix(loss=f"{task_losses[-1]:.3f}", val=f"{val_acc:.3f}")
      score = -1.0 if np.isnan(val_acc) else val_acc
      if score > best[0]:
        best, bad = (score, (nnx.state(model), nnx.state(g), test_mem, mem_train)), 0
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
      acc[tau, k] = _test_task(model, g, mem_k, feats, data, splits[k], k, cfg, no_snap)
    if tau < n_task - 1:
      if cfg.replay and not cfg.er_replay:
        radius = _select_triads(
          model, g, best[1][3], feats, data, sp, tau, index, lab_train, cfg, replay, rng, radius
        )
      elif cfg.er_replay:
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
    "triads": replay.log,
  }


def _scored(data, nodes, task):
  """The nodes of ``nodes`` whose class belongs to ``task`` (the ones accuracy counts)."""
  return nodes[data.node_labels[nodes] // data.n_class == task]


def _pseudo_centre(data, sp, task, index, cfg):
  centre = data.node_labels.copy()
  inductive = np.union1d(sp.test_inductive, sp.val_inductive)
  classes = np.arange(task * data.n_class, (task + 1) * data.n_class)
  centre[inductive] = knn_pseudo_labels(
    index, inductive, data.node_labels, classes, cfg.pseudo_label_neighbors
  )
  return centre


def _test_task(model, g, memory, feats, data, sp, k, cfg, extra):
  """Accuracy on task ``k``'s test-inductive nodes (test pass without memory writes)."""
  eval_index = NeighborIndex(data.stream.subset(sp.all_edges), exclude=sp.test_inductive)
  ctx = {"features": feats, "labels": jnp.asarray(data.node_labels), "task": jnp.asarray(k)}
  centre = _pseudo_centre(data, sp, k, eval_index, cfg)
  batches = _eval_batches(data, sp.test_edges, eval_index, centre, cfg, extra)
  scored = _scored(data, sp.test_inductive, k)
  preds, _ = _stream_eval(model, g, memory, ctx, batches, data, cfg, False, scored)
  return _accuracy(preds, sp.test_inductive, data.node_labels, k, data.n_class, cfg.official_eval)


def _node_batches(data, pos, index, labels, cfg):
  """Labelled nodes of the edges ``pos``, one-edge batches of their first edges (leading node
  axis), and which endpoint each node is."""
  nodes, first, side = _node_first_edges(data, pos, labels)
  one = np.ones(len(first), np.float32)
  b = _batch(data.stream, first, one, one, index, labels, cfg.num_neighbors, {})
  b = {n: np.asarray(v)[:, None] for n, v in b.items()}
  return nodes, b, side


def _select_triads(model, g, memory, feats, data, sp, tau, index, labels, cfg, replay, rng, radius):
  ctx = {"features": feats, "labels": jnp.asarray(labels), "task": jnp.asarray(tau)}
  nodes, b, side = _node_batches(data, sp.train_edges, index, labels, cfg)
  imp_node = np.zeros(data.stream.num_nodes + 1)
  if cfg.importance == "random" or not len(nodes):
    imp_node[nodes] = rng.random(len(nodes))
  else:
    imp_node[nodes] = influence(model, g, memory, ctx, b, side, cfg, data.n_class)
  mem = np.asarray(memory)
  s = data.stream
  picked = []
  for c in range(tau * data.n_class, (tau + 1) * data.n_class):
    pos = sp.train_edges[
      (data.node_labels[s.src[sp.train_edges]] == c)
      & (data.node_labels[s.dst[sp.train_edges]] == c)
    ]
    cands = triad_candidates(index, s.src[pos], s.dst[pos], s.t[pos], s.idx[pos], cfg.triad_window)
    for kind, cand in zip(("closed", "open"), cands, strict=True):
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
      chosen = cand.take(sel)
      picked.append(chosen)
      replay.log.extend(
        {"task": tau, "class": c, "kind": kind, "nodes": n.tolist(), "real": bool(r)}
        for n, r in zip(chosen.nodes, chosen.real, strict=True)
      )
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
  _, b, side = _node_batches(data, pos, index, labels, cfg)
  _, sq, _ = gradient_stats(model, g, memory, ctx, b, side, cfg, data.n_class, squares=True)
  params = nnx.state(model, nnx.Param)
  _, unravel = ravel_pytree(params)
  fisher = unravel(jnp.asarray(sq, jnp.float32))
  if prev is not None:
    fisher = jax.tree.map(jnp.add, fisher, prev[1])
  return jax.tree.map(jnp.asarray, params), fisher
