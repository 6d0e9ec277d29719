"""Temporal link-prediction data for Ada-DyGNN: CollegeMsg (UCI messages), the official
``ml_<name>.csv`` format, the chronological split with new-node (inductive) sets, and noise
injected into the training stream.

A dataset is an :class:`~graphs._temporal.EventStream` over nodes ``1..N`` (0 = padding) with
timestamps shifted to start at 0, plus optional edge features. :func:`chronological_split`
cuts it by time quantiles into train / validation / test and holds out a random set of nodes
that appear after the training period, so that validation and test contain edges touching
nodes the model never saw ("new node" or inductive edges).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib

import numpy as np

from fira_jax.lab.download import dataset_dir, fetch
from fira_jax.lab.seeds import np_rng
from graphs._temporal import EventStream, stream_sha256

__all__ = [
  "COLLEGE_MSG_URL",
  "COLLEGE_MSG_SHA256",
  "NOISE_KINDS",
  "TemporalData",
  "TemporalSplit",
  "make_temporal_data",
  "download_college_msg",
  "load_college_msg",
  "load_official_csv",
  "chronological_split",
  "inject_noise",
  "check_noise",
]

# The DGNN repository's copy of SNAP's CollegeMsg, pinned to a commit.
COLLEGE_MSG_URL = (
  "https://raw.githubusercontent.com/wyd1502/DGNN/"
  "7eca3e8e901a5902cd790b575d9eb899dfd12841/data/CollegeMsg.txt"
)
COLLEGE_MSG_SHA256 = "e00ba2415373dee52c00616065bcceaa4750e78de60d1855c76470600f10740f"
NOISE_KINDS = ("insert", "delete", "noisy_nodes")


@dataclasses.dataclass(frozen=True)
class TemporalData:
  """A temporal interaction graph.

  Attributes:
    stream: the events, time-sorted, ``t`` starting at 0, ``idx`` = ``1..E``.
    edge_features: float32 ``[E + 1, F]`` (row 0 for padding); ``F = 1`` zeros when the
      dataset has none.
    name: dataset name; sha256: hash of the edge table, times and edge features.
  """

  stream: EventStream
  edge_features: np.ndarray
  name: str = ""
  sha256: str = ""


@dataclasses.dataclass(frozen=True)
class TemporalSplit:
  """A chronological train / validation / test split with new-node (inductive) subsets.

  Attributes:
    data: the full dataset.
    train: the training stream, without edges touching held-out nodes.
    val: the validation stream.
    test: the test stream.
    new_node_val: the validation edges with at least one endpoint outside the nodes of the
      training stream.
    new_node_test: the same for the test edges.
    val_time: the first cut time (training ``t <= val_time <`` validation ``t``).
    test_time: the second cut time (validation ``t <= test_time <`` test ``t``).
    held_out: int64 ids drawn as new nodes and removed from training.
    new_nodes: int64 ids outside the nodes of ``train`` (the inductive node set).
    num_real_edges: ``E`` of the clean data; injected edges have ``idx > E``.
  """

  data: TemporalData
  train: EventStream
  val: EventStream
  test: EventStream
  new_node_val: EventStream
  new_node_test: EventStream
  val_time: float
  test_time: float
  held_out: np.ndarray
  new_nodes: np.ndarray
  num_real_edges: int

  @property
  def num_nodes(self) -> int:
    return self.data.stream.num_nodes

  def split_sizes(self) -> dict[str, int]:
    """Edge counts: ``train``, ``val``, ``test``, ``new_node_val``, ``new_node_test``."""
    names = ("train", "val", "test", "new_node_val", "new_node_test")
    return {n: len(getattr(self, n)) for n in names}

  def train_nodes(self) -> np.ndarray:
    """Sorted ids of the nodes of the training stream."""
    return np.unique(np.concatenate([self.train.src, self.train.dst]))

  def full_stream(self) -> EventStream:
    """Every event for evaluation-time neighbour look-ups: the (possibly noisy) training
    stream and all other events of the data (validation, test, train-period edges of
    held-out nodes), time-sorted."""
    s = self.data.stream
    clean_train = (s.t <= self.val_time) & ~(
      np.isin(s.src, self.held_out) | np.isin(s.dst, self.held_out)
    )
    return _merge(s.subset(~clean_train), self.train)

  def is_noise(self, idx: np.ndarray) -> np.ndarray:
    """Bool: edge ids that were injected by :func:`inject_noise` (``idx > E``)."""
    return np.asarray(idx) > self.num_real_edges


def _finish(src, dst, t, edge_features, name) -> TemporalData:
  """Stable-sorts by time, shifts times to 0, numbers edges ``1..E``, hashes the result."""
  src, dst = np.asarray(src, np.int64), np.asarray(dst, np.int64)
  t = np.asarray(t, np.float64)
  if len(src) == 0:
    raise ValueError(f"{name or 'data'}: no edges")
  if not (src.shape == dst.shape == t.shape) or src.ndim != 1:
    raise ValueError(
      f"src, dst and t must be equal-length 1-D arrays, got {src.shape}, {dst.shape}, {t.shape}"
    )
  if min(src.min(), dst.min()) < 1:
    raise ValueError("node ids must be >= 1 (0 is the padding node)")
  order = np.argsort(t, kind="stable")
  src, dst, t = src[order], dst[order], t[order] - t[order][0]
  ef = np.asarray(edge_features, np.float32)
  ef = np.concatenate([np.zeros_like(ef[:1]), ef[1:][order]])
  stream = EventStream(
    src, dst, t, np.arange(1, len(src) + 1, dtype=np.int64), int(max(src.max(), dst.max()))
  )
  digest = stream_sha256(np.stack([src, dst]), t, ef)
  return TemporalData(stream, ef, name, digest)


def make_temporal_data(src, dst, t, edge_features=None, name: str = "") -> TemporalData:
  """A :class:`TemporalData` from interaction arrays (stable-sorted by time, shifted to 0).

  Args:
    src, dst: int ``[E]`` node ids in ``1..N`` (``N`` = the largest id).
    t: ``[E]`` timestamps.
    edge_features: optional ``[E, F]`` (in the given order) or ``[E + 1, F]`` (row 0 padding);
      one zero column when omitted.
    name: dataset name.
  """
  e = len(np.asarray(src))
  if edge_features is None:
    edge_features = np.zeros((e + 1, 1), np.float32)
  ef = np.asarray(edge_features, np.float32)
  if ef.ndim != 2 or len(ef) not in (e, e + 1):
    raise ValueError(f"edge_features must be [E, F] or [E + 1, F] with E = {e}, got {ef.shape}")
  if len(ef) == e:
    ef = np.concatenate([np.zeros((1, ef.shape[1]), np.float32), ef])
  return _finish(src, dst, t, ef, name)


def download_college_msg(folder: str | os.PathLike) -> pathlib.Path:
  """Fetches ``CollegeMsg.txt`` (SHA-256 checked) into ``folder``."""
  return fetch(COLLEGE_MSG_URL, pathlib.Path(folder) / "CollegeMsg.txt", COLLEGE_MSG_SHA256)


def load_college_msg(
  data_dir: str | os.PathLike | None = None, *, download: bool = False
) -> TemporalData:
  """The UC Irvine messages network (CollegeMsg, "UCI"): 59,835 directed messages, 1,899 users.

  Reads ``src dst unix_time`` lines; ids are kept (``1..1899``, 0 is padding), timestamps are
  shifted to start at 0 (stable sort), edge features are one zero column.

  Args:
    data_dir: folder holding ``CollegeMsg.txt``; ``None`` searches ``$FIRA_JAX_DATA_DIR/uci_msg``
      and the cache.
    download: fetch the file from :data:`COLLEGE_MSG_URL` when it is missing.
  """
  folder = dataset_dir(
    "uci_msg",
    ["CollegeMsg.txt"],
    data_dir,
    download=download,
    fetch_into=download_college_msg,
    what="CollegeMsg",
    hint=f"source: {COLLEGE_MSG_URL}, originally SNAP",
  )
  table = np.loadtxt(folder / "CollegeMsg.txt", dtype=np.int64, ndmin=2)
  if table.shape[1] != 3:
    raise ValueError(f"CollegeMsg.txt: expected 3 columns (src dst time), got {table.shape[1]}")
  return _finish(table[:, 0], table[:, 1], table[:, 2], np.zeros((len(table) + 1, 1)), "uci")


def load_official_csv(name: str, data_dir: str | os.PathLike) -> TemporalData:
  """A dataset in the TGN/JODIE preprocessed format: ``ml_<name>.csv`` + ``ml_<name>.npy``.

  The CSV has a header and columns ``,u,i,ts,label,idx`` (``u``, ``i`` in ``1..N``); the
  ``.npy`` holds the ``[E + 1, F]`` edge features (row 0 padding). Node features
  (``ml_<name>_node.npy``) are not used by Ada-DyGNN.

  Args:
    name: dataset name (``"wikipedia"``, ``"reddit"``, ``"UCI-Msg"``).
    data_dir: the folder holding the files.
  """
  folder = pathlib.Path(data_dir).expanduser()
  csv, npy = folder / f"ml_{name}.csv", folder / f"ml_{name}.npy"
  for f in (csv, npy):
    if not f.is_file():
      raise FileNotFoundError(f"{f} not found (official format: ml_<name>.csv and .npy)")
  with open(csv) as fh:
    header = [h.strip() for h in fh.readline().split(",")]
  if not {"u", "i", "ts"} <= set(header):
    raise ValueError(f"{csv}: header must name columns u, i, ts; got {header}")
  table = np.loadtxt(csv, delimiter=",", skiprows=1, ndmin=2)
  col = {h: j for j, h in enumerate(header)}
  ef = np.load(npy)
  if ef.ndim != 2 or len(ef) != len(table) + 1:
    raise ValueError(f"{npy}: expected [{len(table) + 1}, F] edge features, got {ef.shape}")
  src, dst = table[:, col["u"]].astype(np.int64), table[:, col["i"]].astype(np.int64)
  return _finish(src, dst, table[:, col["ts"]], ef, name)


def chronological_split(
  data: TemporalData,
  val_quantile: float = 0.8,
  test_quantile: float = 0.9,
  new_node_fraction: float = 0.1,
  new_node_seed: int = 2020,
) -> TemporalSplit:
  """Splits by time quantiles and holds out new nodes.

  ``val_time, test_time = quantile(t, [val_quantile, test_quantile])`` (linear interpolation);
  train ``t <= val_time``, validation ``val_time < t <= test_time``, test ``t > test_time``.
  ``int(new_node_fraction * N)`` nodes are drawn without replacement
  (``np.random.default_rng(new_node_seed)``) from the sorted ids seen after ``val_time``, and
  every train edge touching one is dropped. The inductive sets are the validation / test
  edges with an endpoint outside the nodes of the remaining train edges.
  """
  if not 0 < val_quantile < test_quantile < 1:
    raise ValueError(
      f"need 0 < val_quantile < test_quantile < 1, got {val_quantile}, {test_quantile}"
    )
  if not 0 <= new_node_fraction < 1:
    raise ValueError(f"new_node_fraction must lie in [0, 1), got {new_node_fraction}")
  s = data.stream
  val_time, test_time = np.quantile(s.t, [val_quantile, test_quantile])
  late = s.t > val_time
  later_nodes = np.unique(np.concatenate([s.src[late], s.dst[late]]))
  size = int(new_node_fraction * s.num_nodes)
  if size > len(later_nodes):
    raise ValueError(f"cannot hold out {size} nodes: only {len(later_nodes)} appear late")
  held = np.sort(np.random.default_rng(new_node_seed).choice(later_nodes, size, replace=False))
  touches = np.isin(s.src, held) | np.isin(s.dst, held)
  train = s.subset(~late & ~touches)
  seen = np.unique(np.concatenate([train.src, train.dst]))
  new_nodes = np.setdiff1d(np.arange(1, s.num_nodes + 1), seen)
  val = s.subset(late & (s.t <= test_time))
  test = s.subset(s.t > test_time)

  def inductive(st: EventStream) -> EventStream:
    return st.subset(np.isin(st.src, new_nodes) | np.isin(st.dst, new_nodes))

  return TemporalSplit(
    data,
    train,
    val,
    test,
    inductive(val),
    inductive(test),
    float(val_time),
    float(test_time),
    held,
    new_nodes,
    len(s),
  )


def _merge(real: EventStream, fake: EventStream) -> EventStream:
  """Time-sorted union; on equal times real events come first."""
  cat = lambda a, b: np.concatenate([a, b])  # noqa: E731
  t = cat(real.t, fake.t)
  order = np.lexsort((np.r_[np.zeros(len(real)), np.ones(len(fake))], t))
  return EventStream(
    cat(real.src, fake.src)[order],
    cat(real.dst, fake.dst)[order],
    t[order],
    cat(real.idx, fake.idx)[order],
    real.num_nodes,
  )


def _other_node(rng: np.random.Generator, nodes: np.ndarray, avoid: np.ndarray) -> np.ndarray:
  """Uniform draws from ``nodes``, redrawn where they equal ``avoid``."""
  out = rng.choice(nodes, len(avoid))
  while np.any(bad := out == avoid):
    out[bad] = rng.choice(nodes, int(bad.sum()))
  return out


def check_noise(kind: str, rho: float) -> None:
  """Raises ``ValueError`` unless ``kind`` is in :data:`NOISE_KINDS` and ``rho`` is valid for it."""
  if kind not in NOISE_KINDS:
    raise ValueError(f"noise must be one of {list(NOISE_KINDS)}, got {kind!r}")
  if not np.isfinite(rho) or rho < 0 or (kind != "insert" and rho > 1):
    limit = "[0, inf)" if kind == "insert" else "[0, 1]"
    raise ValueError(f"rho for {kind!r} must lie in {limit}, got {rho}")


def inject_noise(split: TemporalSplit, kind: str, rho: float, seed: int) -> TemporalSplit:
  """Corrupts the training stream only (validation, test and node sets are unchanged).

  With ``M = |E_train|`` and the train nodes ``V``:

  * ``insert``: adds ``round(rho M)`` fake edges, endpoints uniform over ``V`` (no self
    loops), times drawn with replacement from the train times, merged stably (real edges
    first on equal times); their ids continue after ``E`` (see :meth:`TemporalSplit.is_noise`).
  * ``delete``: drops ``round(rho M)`` uniformly chosen train edges.
  * ``noisy_nodes``: picks ``round(rho |V|)`` nodes; every train edge touching one gets its
    other endpoint replaced by a uniform node of ``V`` (the edge keeps its id and time).

  Args:
    split: the clean split.
    kind: one of :data:`NOISE_KINDS`.
    rho: the ratio, in ``[0, 1]`` (``delete`` and ``noisy_nodes``) or ``>= 0`` (``insert``).
    seed: the run seed (the draws use the named stream ``"noise"``).
  """
  check_noise(kind, rho)
  if rho == 0:
    return split
  train, nodes = split.train, split.train_nodes()
  rng = np_rng(seed, f"noise/{kind}")
  m = len(train)
  if kind == "insert":
    n = int(round(rho * m))
    src = rng.choice(nodes, n)
    dst = _other_node(rng, nodes, src)
    t = np.sort(rng.choice(train.t, n))
    idx = split.num_real_edges + 1 + np.arange(n)
    new = _merge(train, EventStream(src, dst, t, idx, train.num_nodes))
  elif kind == "delete":
    n = int(round(rho * m))
    keep = np.ones(m, bool)
    keep[rng.choice(m, n, replace=False)] = False
    new = train.subset(keep)
  else:
    noisy = rng.choice(nodes, int(round(rho * len(nodes))), replace=False)
    src, dst = train.src.copy(), train.dst.copy()
    hit_src, hit_dst = np.isin(src, noisy), np.isin(dst, noisy)
    dst[hit_src] = _other_node(rng, nodes, src[hit_src])  # both noisy: dst is replaced
    only_dst = hit_dst & ~hit_src
    src[only_dst] = _other_node(rng, nodes, dst[only_dst])
    new = EventStream(src, dst, train.t, train.idx, train.num_nodes)
  return dataclasses.replace(split, train=new)
