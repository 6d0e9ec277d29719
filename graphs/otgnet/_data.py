"""Open temporal graph data: the OTG-Synth generator, a Planetoid class-incremental stream, the
official CSV format, and the per-task train/val/test split.

Every dataset is an :class:`OTGData`: a time-ordered :class:`~graphs.EventStream` over nodes
``1..N`` (0 = padding), one class per node, and node features. Classes arrive ``n_class`` at a
time; an edge belongs to task ``floor(max(label_u, label_i) / n_class)``.
"""

from __future__ import annotations

import csv
import dataclasses
import pathlib

import numpy as np

from graphs._planetoid import load_planetoid
from graphs._temporal import EventStream, stream_sha256

__all__ = [
  "OTGData",
  "TaskSplit",
  "make_synth",
  "planetoid_stream",
  "load_otg_csv",
  "split_tasks",
  "DATASETS",
]

DATASETS = ("synth", "cora", "citeseer")


@dataclasses.dataclass(frozen=True)
class OTGData:
  """A class-incremental temporal graph.

  Attributes:
    stream: the events (``src`` = ``u``, ``dst`` = ``i``).
    node_labels: int64 ``[N + 1]`` class of each node (-1 on the padding row 0).
    features: float32 ``[N + 1, F]`` node features (row 0 zeros).
    n_class: classes per task; n_task: number of tasks.
    name: dataset name; sha256: hash of the edge table, timestamps and features.
  """

  stream: EventStream
  node_labels: np.ndarray
  features: np.ndarray
  n_class: int
  n_task: int
  name: str = ""
  sha256: str = ""

  @property
  def edge_task(self) -> np.ndarray:
    """``[E]`` task of each edge, ``max(label_u, label_i) // n_class``."""
    lab = np.maximum(self.node_labels[self.stream.src], self.node_labels[self.stream.dst])
    return lab // self.n_class


def _finish(stream: EventStream, labels: np.ndarray, x: np.ndarray, n_class, n_task, name):
  """Truncates at the first edge of task >= n_task, checks classes and hashes the result."""
  if n_class < 1 or n_task < 1:
    raise ValueError(f"n_class and n_task must be >= 1, got {n_class}, {n_task}")
  lab = np.maximum(labels[stream.src], labels[stream.dst])
  if np.any(lab < 0):
    raise ValueError("every edge endpoint needs a class label >= 0")
  beyond = np.flatnonzero(lab // n_class >= n_task)
  if len(beyond):
    stream = stream.subset(np.arange(beyond[0]))
  present = np.unique(labels[np.concatenate([stream.src, stream.dst])])
  missing = sorted(set(range(n_class * n_task)) - set(present.tolist()))
  if missing:
    raise ValueError(
      f"class(es) {missing} have no nodes in the stream ({n_task} tasks x {n_class} classes)"
    )
  table = np.stack(
    [stream.src, stream.dst, labels[stream.src], labels[stream.dst], stream.idx], 1
  ).astype(np.int64)
  digest = stream_sha256(table, stream.t.astype(np.float64), x.astype(np.float32))
  return OTGData(
    stream, labels.astype(np.int64), x.astype(np.float32), n_class, n_task, name, digest
  )


def make_synth(
  seed: int = 0,
  *,
  n_task: int = 3,
  n_class: int = 2,
  n_per_class: int = 200,
  num_features: int = 32,
  signal: float = 1.0,
  sigma: float = 1.0,
  m: int = 10,
  p_close: float = 0.3,
  p_homo: float = 0.6,
  p_old: float = 0.5,
  t_task: float = 10_000.0,
) -> OTGData:
  """OTG-Synth: a seeded class-incremental temporal graph (one NumPy generator, fixed draws).

  Class means :math:`\\mu_c` are unit-norm Gaussian directions times ``signal``; features are
  :math:`x_v = \\mu_{c(v)} + \\sigma \\epsilon`. Task :math:`\\tau` has ``m * 2 * n_per_class``
  edges at sorted uniform times in :math:`[\\tau T, (\\tau+1) T)`. Each edge starts at a random
  node ``u`` of the task; with probability ``p_close`` it closes a triangle through a past
  neighbour, else it goes to a same-class node with probability ``p_homo``, else (after the first
  task) to an old-class node with probability ``p_old``, else to the task's other class.

  Args:
    seed: seed of ``np.random.default_rng``.
    n_task, n_class, n_per_class, num_features: sizes (``C = n_task * n_class`` classes).
    signal, sigma: class-mean norm and feature noise.
    m: edges per node per task.
    p_close, p_homo, p_old: the triadic-closure, homophily and old-class probabilities.
    t_task: time span of a task.

  Returns:
    An :class:`OTGData` named ``"synth"`` whose ``sha256`` identifies the stream.
  """
  if n_per_class < 1 or m < 1 or num_features < 1:
    raise ValueError("n_per_class, m and num_features must be >= 1")
  if n_class < 2:
    raise ValueError(f"OTG-Synth needs n_class >= 2 (edges to the other class), got {n_class}")
  rng = np.random.default_rng(seed)
  c_total = n_task * n_class
  mu = rng.standard_normal((c_total, num_features))
  mu = mu / np.linalg.norm(mu, axis=1, keepdims=True) * signal
  n = c_total * n_per_class
  cls = np.arange(n) // n_per_class  # class of node id v is cls[v - 1]
  x = mu[cls] + sigma * rng.standard_normal((n, num_features))
  members = [np.arange(c * n_per_class, (c + 1) * n_per_class) + 1 for c in range(c_total)]
  past: dict[int, list[int]] = {}
  src, dst, ts = [], [], []
  for tau in range(n_task):
    classes = range(tau * n_class, (tau + 1) * n_class)
    task_nodes = np.concatenate([members[c] for c in classes])
    old_nodes = np.arange(1, tau * n_class * n_per_class + 1)
    n_edges = m * n_class * n_per_class
    times = tau * t_task + np.sort(rng.uniform(0, t_task, n_edges))
    for j in range(n_edges):
      u = int(task_nodes[rng.integers(len(task_nodes))])
      cu = int(cls[u - 1])
      v = None
      r = rng.random()
      if r < p_close and past.get(u):
        w = past[u][rng.integers(len(past[u]))]
        cand = [c for c in past[w] if c != u]
        if cand:
          v = cand[rng.integers(len(cand))]
      if v is None:
        if rng.random() < p_homo:
          same = members[cu][members[cu] != u]
          v = int(same[rng.integers(len(same))])
        else:
          r3 = rng.random()
          if tau > 0 and r3 < p_old:
            v = int(old_nodes[rng.integers(len(old_nodes))])
          else:
            other = np.concatenate([members[c] for c in classes if c != cu])
            v = int(other[rng.integers(len(other))])
      src.append(u)
      dst.append(v)
      ts.append(times[j])
      past.setdefault(u, []).append(v)
      past.setdefault(v, []).append(u)
  e = len(src)
  stream = EventStream(
    np.asarray(src, np.int64),
    np.asarray(dst, np.int64),
    np.asarray(ts, np.float64),
    np.arange(1, e + 1, dtype=np.int64),
    n,
  )
  labels = np.concatenate([[-1], cls]).astype(np.int64)
  features = np.concatenate([np.zeros((1, num_features)), x])
  return _finish(stream, labels, features, n_class, n_task, "synth")


def planetoid_stream(
  name: str,
  data_dir: str | pathlib.Path,
  seed: int = 0,
  *,
  n_class: int = 2,
  n_task: int = 3,
  class_order_seed: int | None = None,
  repeat: int = 1,
) -> OTGData:
  """Cora or Citeseer as a class-incremental stream: nodes arrive task by task.

  Classes (index order, or permuted by ``class_order_seed``) are grouped ``n_class`` per task;
  classes beyond ``n_task * n_class`` and unlabelled nodes are dropped and the rest renumbered
  ``1..N`` in id order. Within task :math:`\\tau`, a random arrival rank ``r`` gives
  :math:`t(v) = 1000\\tau + 1000 (r + 1) / (n_\\tau + 1)`. Each undirected edge is emitted once at
  :math:`\\max(t(a), t(b))` from the later-arriving endpoint (``repeat`` times, 1e-3 apart),
  sorted by ``(t, src, dst)``.

  Args:
    name: ``"cora"`` or ``"citeseer"``.
    data_dir: folder with the ``ind.<name>.*`` Planetoid files.
    seed: seed of the arrival order.
    n_class, n_task: classes per task and number of tasks (default 2 x 3).
    class_order_seed: permute the classes first (``None``: index order).
    repeat: copies of each edge.
  """
  if repeat < 1:
    raise ValueError(f"repeat must be >= 1, got {repeat}")
  base = load_planetoid(name, data_dir)
  feats = np.asarray(base.graph.nodes, np.float32)
  labels = np.asarray(base.labels).astype(np.int64)
  order = np.arange(base.num_classes)
  if class_order_seed is not None:
    order = np.random.default_rng(class_order_seed).permutation(base.num_classes)
  if n_class * n_task > base.num_classes:
    raise ValueError(f"{name} has {base.num_classes} classes, fewer than {n_class} x {n_task}")
  rank = np.full(base.num_classes, -1)
  rank[order[: n_class * n_task]] = np.arange(n_class * n_task)
  new_label = rank[labels]
  keep = (new_label >= 0) & (feats.sum(1) > 0)
  old_ids = np.flatnonzero(keep)
  new_id = np.zeros(len(labels), np.int64)
  new_id[old_ids] = np.arange(1, len(old_ids) + 1)
  lab = np.concatenate([[-1], new_label[old_ids]])
  n = len(old_ids)
  rng = np.random.default_rng(seed)
  arrival = np.zeros(n + 1)
  for tau in range(n_task):
    nodes = np.flatnonzero((lab >= tau * n_class) & (lab < (tau + 1) * n_class))
    r = rng.permutation(len(nodes))
    arrival[nodes] = tau * 1000.0 + 1000.0 * (r + 1) / (len(nodes) + 1)
  s, d = np.asarray(base.graph.senders), np.asarray(base.graph.receivers)
  pair = (s < d) & keep[s] & keep[d]
  a, b = new_id[s[pair]], new_id[d[pair]]
  later = arrival[a] >= arrival[b]
  src, dst = np.where(later, a, b), np.where(later, b, a)
  t = np.maximum(arrival[a], arrival[b])
  src, dst = np.repeat(src, repeat), np.repeat(dst, repeat)
  t = np.repeat(t, repeat) + np.tile(np.arange(repeat) * 1e-3, len(t))
  o = np.lexsort((dst, src, t))
  stream = EventStream(src[o], dst[o], t[o], np.arange(1, len(o) + 1, dtype=np.int64), n)
  x = np.concatenate([np.zeros((1, feats.shape[1]), np.float32), feats[old_ids]])
  return _finish(stream, lab, x, n_class, n_task, name.lower())


def load_otg_csv(
  csv_path: str | pathlib.Path,
  features_path: str | pathlib.Path,
  *,
  n_class: int,
  n_task: int,
  name: str = "",
) -> OTGData:
  """Reads the official OTGNet data format.

  Args:
    csv_path: CSV with a header naming the columns ``u, i, ts, label_u, label_i, idx`` (other
      columns, e.g. a leading unnamed index, are ignored); node ids start at 1, rows in time
      order.
    features_path: ``.npy`` node features, ``[N + 1, F]`` with row 0 for the padding node
      (``[N, F]`` is accepted and gets a zero row prepended).
    n_class, n_task: classes per task and number of tasks (Reddit 3 x 6, Yelp 3 x 5,
      Taobao 30 x 3).

  Raises:
    FileNotFoundError: a file is missing. ValueError: a column is missing, labels disagree,
      or a class has no node.
  """
  csv_path, features_path = pathlib.Path(csv_path), pathlib.Path(features_path)
  for p in (csv_path, features_path):
    if not p.is_file():
      raise FileNotFoundError(
        f"{p} not found: the OTGNet format needs <name>.csv (u, i, ts, label_u, label_i, idx) "
        "and a node-feature .npy"
      )
  with csv_path.open(newline="") as f:
    reader = csv.reader(f)
    header = [h.strip() for h in next(reader)]
    need = ("u", "i", "ts", "label_u", "label_i", "idx")
    missing = [c for c in need if c not in header]
    if missing:
      raise ValueError(f"{csv_path} lacks column(s) {missing}; header is {header}")
    cols = [header.index(c) for c in need]
    rows = np.asarray([[float(r[c]) for c in cols] for r in reader if r], np.float64)
  rows = rows.reshape(-1, 6)
  u, i, label_u, label_i, idx = (rows[:, c].astype(np.int64) for c in (0, 1, 3, 4, 5))
  x = np.load(features_path).astype(np.float32)
  n = int(max(u.max(initial=0), i.max(initial=0)))
  if x.shape[0] == n:
    x = np.concatenate([np.zeros((1, x.shape[1]), np.float32), x])
  if x.shape[0] < n + 1:
    raise ValueError(f"{features_path} has {x.shape[0]} rows, node ids go up to {n}")
  n = x.shape[0] - 1
  labels = np.full(n + 1, -1, np.int64)
  for nodes, lab in ((u, label_u), (i, label_i)):
    prev = labels[nodes]
    if np.any((prev >= 0) & (prev != lab)):
      raise ValueError(f"{csv_path}: a node has two different labels")
    labels[nodes] = lab
  stream = EventStream(u, i, rows[:, 2], idx, n)
  return _finish(stream, labels, x, n_class, n_task, name or csv_path.stem)


@dataclasses.dataclass(frozen=True)
class TaskSplit:
  """The node split of one task and the edges (stream positions) of each part.

  Attributes:
    train_nodes, val_nodes, test_nodes: sorted node ids (80/10/10 of the task's edge nodes).
    train_edges: positions of the task's edges with both endpoints in train.
    val_edges, test_edges: positions of the task's edges touching a val / test node.
    test_inductive: nodes of test edges that occur in no train or val edge of the task.
    val_inductive: nodes of val edges that occur in no train edge of the task.
    all_edges: positions of all the task's edges.
  """

  train_nodes: np.ndarray
  val_nodes: np.ndarray
  test_nodes: np.ndarray
  train_edges: np.ndarray
  val_edges: np.ndarray
  test_edges: np.ndarray
  test_inductive: np.ndarray
  val_inductive: np.ndarray
  all_edges: np.ndarray


def split_tasks(data: OTGData, split_seed: int = 2020) -> list[TaskSplit]:
  """Per-task 80/10/10 node split (one ``default_rng(split_seed)`` permutation per task of the
  sorted node ids; the first 80% train, half of the rest val, the remainder test)."""
  rng = np.random.default_rng(split_seed)
  task = data.edge_task
  src, dst = data.stream.src, data.stream.dst
  out = []
  for tau in range(data.n_task):
    pos = np.flatnonzero(task == tau)
    nodes = np.unique(np.concatenate([src[pos], dst[pos]]))
    perm = rng.permutation(nodes)
    n_tr = int(0.8 * len(nodes))
    n_va = (len(nodes) - n_tr) // 2
    tr, va, te = (np.sort(p) for p in np.split(perm, [n_tr, n_tr + n_va]))
    s, d = src[pos], dst[pos]
    train_e = pos[np.isin(s, tr) & np.isin(d, tr)]
    val_e = pos[np.isin(s, va) | np.isin(d, va)]
    test_e = pos[np.isin(s, te) | np.isin(d, te)]

    def nodes_of(p):
      return np.unique(np.concatenate([src[p], dst[p]]))

    seen_tv = nodes_of(np.concatenate([train_e, val_e]))
    test_ind = np.setdiff1d(nodes_of(test_e), seen_tv)
    val_ind = np.setdiff1d(nodes_of(val_e), nodes_of(train_e))
    out.append(TaskSplit(tr, va, te, train_e, val_e, test_e, test_ind, val_ind, pos))
  return out
