"""Planetoid citation graphs (Cora, Citeseer) as a ``jraph.GraphsTuple``.

The ``ind.<name>.<x,y,tx,ty,allx,ally,graph,test.index>`` files of Yang et al. (2016) are read
from a directory; when they are missing they can be fetched from the canonical public copy
(checksummed). The standard public split is 20 labelled nodes per class, 500 validation and
1,000 test nodes.
"""

from __future__ import annotations

import os
import pathlib
import pickle
import warnings
from typing import NamedTuple

import jax.numpy as jnp
import jraph
import numpy as np

from fira_jax.lab.download import DatasetNotFound, cache_dir, dataset_dir, fetch
from graphs._layers import feature_support

__all__ = ["NodeData", "load_planetoid", "download_planetoid", "random_split", "PLANETOID_URL"]

PLANETOID_URL = "https://raw.githubusercontent.com/kimiyoung/planetoid/af6abf468a772cc055bec88c52e4d6f51b7c37e3/data"
_SUFFIXES = ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")
_SHA256 = {
  "cora": {
    "x": "23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab",
    "y": "94465c14eb53e04ca262198dcbb2521ee8af60fb3f3d546cd6ca24a511b0e7d1",
    "tx": "b9afbaa4a400df991f6f02ef677e1e44da55ffc04801fd02f9e673987829226a",
    "ty": "41f5ac76596a1699cc33f53084a2419e92961c42bb75f36fc38e616d348532ad",
    "allx": "9419ba2f26f5c35243db64aba110e0f35a04851609e0dc5433450676ca6b8543",
    "ally": "2b998f5cc7fedc86e7f97ca2498f47a1ffc1462c29e2d578b23bf3f62b6e7d71",
    "graph": "58f13302f39dde8852dad6fe6d15b89b077b6d7f837626bce671ef80344b383d",
    "test.index": "297ce89af2b51a6a194181c7dbe1796c6a1cf9cd9349a88383b1b1e227867875",
  },
  "citeseer": {
    "x": "d20de19150741e555de0ed037195630fc194114ebc7fd72ced62810148aa22f6",
    "y": "8ba87e515d8e3ee3cf52f6d2c5b86aa73f11ecad825a808455209ec26cd54924",
    "tx": "539a8906a2da97628d212f2fdd668c109a8b3f0d36574b59e5d3fd5b5303da21",
    "ty": "55e5bd1ba1e733a04598753ad1a8d57957f4b8f89e74519f41f4f4938767e4ce",
    "allx": "2ac30345d95c9ec933a817ee0bdd6a5f077f8c184a20e696910192d534414668",
    "ally": "f704b2d986dde6c2669934de1f3ae5696a6cf9455c0f6b2646a2d135ea0a1c95",
    "graph": "d79a4ef9d3e7169aee8946145f6b7306e35bc79bffad26346cfb94e10e9912a7",
    "test.index": "2af990671580b6b2df5d158d1038f8292e30c9cd821b5453f399659b25b723d4",
  },
}
DATASETS = tuple(_SHA256)


class NodeData(NamedTuple):
  """A node-classification dataset on one graph.

  Attributes:
    graph: ``GraphsTuple`` with ``nodes`` = row-normalised features ``[N, F]``, directed edges
      in both directions *plus one self loop per node* (``senders``/``receivers`` ``[E]``),
      and ``edges`` = edge weights ``[E]`` (all ones; a zero drops an edge without changing
      shapes). The layers derive their normalisation from these weights.
    labels: int32 ``[N]`` class ids (0 for the Citeseer nodes that have no label).
    train_mask, val_mask, test_mask: float32 ``[N]`` 0/1 masks of the split.
    num_classes: number of classes ``C``.
    node_mask: float32 ``[N]``, 1 on real nodes and 0 on padding nodes (see
      :func:`~graphs.pad_node_data`); ``None`` (the default) when every node is real.
    feature_support: int32 ``[S]`` flat indices of (a superset of) the nonzero entries of
      ``graph.nodes``, or ``None`` (the default). The trainers set it on entry
      (:meth:`with_feature_support`) so that input dropout draws random bits for those entries
      only; it must be reset when ``graph.nodes`` is replaced.
  """

  graph: jraph.GraphsTuple
  labels: jnp.ndarray
  train_mask: jnp.ndarray
  val_mask: jnp.ndarray
  test_mask: jnp.ndarray
  num_classes: int
  node_mask: jnp.ndarray | None = None
  feature_support: jnp.ndarray | None = None

  @property
  def real_nodes(self) -> jnp.ndarray:
    """``[N]`` float mask of the real nodes: ``node_mask``, or all ones without padding."""
    if self.node_mask is None:
      return jnp.ones(self.labels.shape, jnp.float32)
    return self.node_mask

  def with_feature_support(self) -> NodeData:
    """This data with ``feature_support`` computed from ``graph.nodes`` (on the host); left
    ``None`` for padded or sharded data (``node_mask`` set) and for features that are not
    sparse (see :func:`graphs._layers.feature_support`)."""
    support = None if self.node_mask is not None else feature_support(self.graph.nodes)
    return self._replace(feature_support=support)


def _check_name(name: str) -> str:
  if not isinstance(name, str) or name.lower() not in _SHA256:
    raise ValueError(f"dataset must be one of {list(DATASETS)}, got {name!r}")
  return name.lower()


def _files(name: str) -> list[str]:
  return [f"ind.{name}.{s}" for s in _SUFFIXES]


def download_planetoid(name: str, data_dir: str | os.PathLike | None = None) -> pathlib.Path:
  """Downloads the missing ``ind.<name>.*`` files into ``data_dir`` and checks their SHA-256.

  Args:
    name: ``"cora"`` or ``"citeseer"``.
    data_dir: destination directory (created if needed); default the cache folder
      ``<cache>/data/planetoid`` (see :mod:`fira_jax.lab.download`).

  Returns:
    ``data_dir`` as a path.

  Raises:
    ValueError: unknown dataset or a checksum mismatch.
    FileNotFoundError: offline; the message lists which files to put where.
  """
  name = _check_name(name)
  data_dir = pathlib.Path(data_dir) if data_dir is not None else cache_dir("data", "planetoid")
  for suffix in _SUFFIXES:
    path = data_dir / f"ind.{name}.{suffix}"
    if path.exists():
      continue
    try:
      fetch(f"{PLANETOID_URL}/{path.name}", path, _SHA256[name][suffix], timeout=30)
    except DatasetNotFound as e:
      raise DatasetNotFound(
        f"Planetoid {name!r}: could not download {', '.join(_files(name))} from "
        f"{PLANETOID_URL} into {data_dir} ({e})"
      ) from e
  return data_dir


def _read(path: pathlib.Path):
  if path.name.endswith("test.index"):
    return np.array([int(line) for line in path.read_text().split()], dtype=np.int64)
  with path.open("rb") as f, warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # old scipy.sparse pickle paths
    obj = pickle.load(f, encoding="latin1")
  return obj.toarray() if hasattr(obj, "toarray") else obj


def _edges_from_dict(adjacency: dict, num_nodes: int) -> tuple[np.ndarray, np.ndarray]:
  """Undirected, de-duplicated edge list without self loops, both directions."""
  src = np.array([s for s, nbrs in adjacency.items() for _ in nbrs], dtype=np.int64)
  dst = np.array([d for nbrs in adjacency.values() for d in nbrs], dtype=np.int64)
  pairs = np.concatenate([np.stack([src, dst], 1), np.stack([dst, src], 1)])
  pairs = pairs[(pairs[:, 0] != pairs[:, 1]) & (pairs.max(1) < num_nodes)]
  pairs = np.unique(pairs, axis=0)
  return pairs[:, 0], pairs[:, 1]


def load_planetoid(
  name: str, data_dir: str | os.PathLike | None = None, *, download: bool = False
) -> NodeData:
  """Loads Cora or Citeseer with the standard public split.

  Features are row-normalised, :math:`\\tilde x_i = x_i / \\sum_f x_{if}` (rows of zeros stay
  zero). The returned graph carries each undirected edge in both directions plus one self loop
  per node, so that the GCN normalisation
  :math:`\\hat A = \\tilde D^{-1/2} (A + I) \\tilde D^{-1/2}` is computed from it by the layers.

  Args:
    name: ``"cora"`` (N=2708, F=1433, C=7, 10,556 directed edges) or ``"citeseer"`` (N=3327,
      F=3703, C=6, 9,104 directed edges).
    data_dir: directory holding the ``ind.<name>.*`` files; ``None`` looks in
      ``$FIRA_JAX_DATA_DIR/planetoid`` and then the cache (see :mod:`fira_jax.lab.download`).
    download: when the files are not found, fetch them (checksummed) from the canonical
      public copy into ``data_dir`` (or the cache); needs network access.

  Returns:
    A :class:`NodeData`.
  """
  name = _check_name(name)
  data_dir = dataset_dir(
    "planetoid",
    _files(name),
    data_dir,
    download=download,
    fetch_into=lambda folder: download_planetoid(name, folder),
    what=f"Planetoid files for {name!r}",
    hint=f"from {PLANETOID_URL}",
  )
  x, y, tx, ty, allx, ally, adjacency, test_index = (
    _read(data_dir / f"ind.{name}.{s}") for s in _SUFFIXES
  )
  test_sorted = np.sort(test_index)
  if name == "citeseer":  # some test ids are isolated nodes without features: pad them
    full = np.arange(test_sorted.min(), test_sorted.max() + 1)
    tx_full = np.zeros((len(full), tx.shape[1]), tx.dtype)
    ty_full = np.zeros((len(full), ty.shape[1]), ty.dtype)
    tx_full[test_sorted - test_sorted.min()] = tx
    ty_full[test_sorted - test_sorted.min()] = ty
    tx, ty = tx_full, ty_full
  features = np.concatenate([allx, tx]).astype(np.float64)
  onehot = np.concatenate([ally, ty])
  features[test_index] = features[test_sorted]
  onehot[test_index] = onehot[test_sorted]
  n = features.shape[0]
  row_sum = features.sum(1, keepdims=True)
  features = np.divide(features, row_sum, out=np.zeros_like(features), where=row_sum > 0)
  labels = onehot.argmax(1).astype(np.int32)

  def mask(idx):
    m = np.zeros(n, np.float32)
    m[idx] = 1.0
    return jnp.asarray(m)

  senders, receivers = _edges_from_dict(adjacency, n)
  loops = np.arange(n)
  senders = np.concatenate([senders, loops]).astype(np.int32)
  receivers = np.concatenate([receivers, loops]).astype(np.int32)
  graph = jraph.GraphsTuple(
    nodes=jnp.asarray(features, jnp.float32),
    edges=jnp.ones(len(senders), jnp.float32),
    senders=jnp.asarray(senders),
    receivers=jnp.asarray(receivers),
    n_node=jnp.asarray([n]),
    n_edge=jnp.asarray([len(senders)]),
    globals=None,
  )
  return NodeData(
    graph=graph,
    labels=jnp.asarray(labels),
    train_mask=mask(np.arange(len(y))),
    val_mask=mask(np.arange(len(y), len(y) + 500)),
    test_mask=mask(test_index),
    num_classes=int(onehot.shape[1]),
  )


def random_split(data: NodeData, seed: int, *, train: float = 0.6, val: float = 0.2) -> NodeData:
  """Per-class random ``train/val/test`` split (Geom-GCN style 60/20/20 by default).

  Only nodes that carry a label in the Planetoid files take part (all of Cora; Citeseer's
  isolated unlabelled nodes are left out of every mask).

  Args:
    data: a dataset whose masks are replaced.
    seed: NumPy seed of the permutation.
    train: fraction of each class used for training.
    val: fraction of each class used for validation; the rest is test.

  Returns:
    ``data`` with new ``train_mask``, ``val_mask`` and ``test_mask``.
  """
  if not (0 < train and 0 < val and train + val < 1):
    raise ValueError(f"train and val must be positive with train + val < 1, got {train}, {val}")
  rng = np.random.default_rng(seed)
  labels = np.asarray(data.labels)
  labelled = (np.asarray(data.graph.nodes).sum(1) > 0) & (np.asarray(data.real_nodes) > 0)
  masks = [np.zeros(len(labels), np.float32) for _ in range(3)]
  for c in range(data.num_classes):
    idx = rng.permutation(np.flatnonzero((labels == c) & labelled))
    n_tr, n_va = int(round(train * len(idx))), int(round(val * len(idx)))
    for m, part in zip(masks, np.split(idx, [n_tr, n_tr + n_va]), strict=True):
      m[part] = 1.0
  return data._replace(
    train_mask=jnp.asarray(masks[0]),
    val_mask=jnp.asarray(masks[1]),
    test_mask=jnp.asarray(masks[2]),
  )
