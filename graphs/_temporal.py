"""Continuous-time temporal graphs: an event stream, a time-sorted neighbour index, a time
encoding and fixed-shape event batches.

A temporal graph is a time-ordered stream of interactions ``(src, dst, t)`` between nodes
``1..N``; id ``0`` is the padding node. Neighbour look-ups run in NumPy outside ``jit`` and return
fixed ``(B, k)`` tables (left-padded with id 0 and a mask), so a jitted step compiles once per
batch shape. Memory-based models (TGN-style: OTGNet, Ada-DyGNN) write node memory with
:func:`last_write_mask`, which makes "the last occurrence in the batch wins" explicit instead of
relying on the order of a scatter.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

__all__ = [
  "EventStream",
  "NeighborIndex",
  "EventBatch",
  "event_batches",
  "time_encoding",
  "time_encoding_frequencies",
  "last_write_mask",
  "stream_sha256",
]


@dataclasses.dataclass(frozen=True)
class EventStream:
  """A time-ordered interaction stream.

  Attributes:
    src, dst: int64 ``[E]`` node ids in ``1..num_nodes`` (0 is the padding node).
    t: float64 ``[E]`` non-decreasing timestamps.
    idx: int64 ``[E]`` edge ids (``1..E`` in the official CSV format).
    num_nodes: ``N``; arrays indexed by node have ``N + 1`` rows.
  """

  src: np.ndarray
  dst: np.ndarray
  t: np.ndarray
  idx: np.ndarray
  num_nodes: int

  def __post_init__(self):
    n = len(self.src)
    if not (len(self.dst) == len(self.t) == len(self.idx) == n):
      raise ValueError("src, dst, t and idx must have the same length")
    if n and np.any(np.diff(self.t) < 0):
      raise ValueError("event timestamps must be non-decreasing")
    if n and (
      min(self.src.min(), self.dst.min()) < 1
      or max(self.src.max(), self.dst.max()) > self.num_nodes
    ):
      raise ValueError(f"node ids must lie in 1..{self.num_nodes} (0 is the padding node)")

  def __len__(self) -> int:
    return len(self.src)

  def subset(self, where: np.ndarray) -> EventStream:
    """The events selected by a boolean mask or an index array (order kept)."""
    return EventStream(
      self.src[where], self.dst[where], self.t[where], self.idx[where], self.num_nodes
    )


def stream_sha256(*arrays: np.ndarray) -> str:
  """SHA-256 of the arrays' bytes in order (shape and dtype included), to check a stream."""
  h = hashlib.sha256()
  for a in arrays:
    a = np.ascontiguousarray(a)
    h.update(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
  return h.hexdigest()


class NeighborIndex:
  """Per-node interaction lists sorted by time (CSR), for "k most recent before t" queries.

  Every event ``(u, v, t, e)`` is entered twice: ``v`` as a neighbour of ``u`` and ``u`` of
  ``v``. Nodes in ``exclude`` are never returned as neighbours (they may still be centres).

  Args:
    stream: the events that form the index.
    exclude: optional node ids never returned as neighbours.
  """

  def __init__(self, stream: EventStream, exclude: np.ndarray | None = None):
    centre = np.concatenate([stream.src, stream.dst])
    nbr = np.concatenate([stream.dst, stream.src])
    t = np.concatenate([stream.t, stream.t]).astype(np.float64)
    eidx = np.concatenate([stream.idx, stream.idx])
    if exclude is not None and len(exclude):
      keep = ~np.isin(nbr, exclude)
      centre, nbr, t, eidx = centre[keep], nbr[keep], t[keep], eidx[keep]
    # (centre, t) order, stable so that equal times keep the stream order
    order = np.lexsort((np.arange(len(t)), t, centre))
    self.centre, self.nbr, self.t, self.eidx = centre[order], nbr[order], t[order], eidx[order]
    self.num_nodes = stream.num_nodes
    self.indptr = np.searchsorted(self.centre, np.arange(self.num_nodes + 2))
    self._t0 = float(t.min()) if len(t) else 0.0
    span = float(t.max()) - self._t0 if len(t) else 0.0
    self._scale = span + 1.0
    self._keys = self.centre * self._scale + (self.t - self._t0)

  def degree(self, nodes: np.ndarray) -> np.ndarray:
    """Number of index entries of each node (all times)."""
    nodes = np.asarray(nodes)
    return self.indptr[nodes + 1] - self.indptr[nodes]

  def most_recent(
    self, nodes: np.ndarray, times: np.ndarray | None, k: int
  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` most recent neighbours of each node strictly before its time.

    Args:
      nodes: int ``[B]`` centre ids (0 gives an empty row).
      times: float ``[B]`` query times, or ``None`` for "over all time".
      k: number of slots.

    Returns:
      ``(ids, t, eidx, mask)``, each ``[B, k]``: neighbour ids (0 in padded slots), their
      interaction times, edge ids, and a bool mask; rows are left-padded (the most recent
      neighbour is in the last slot).
    """
    nodes = np.asarray(nodes, np.int64)
    start, stop = self.indptr[nodes], self.indptr[nodes + 1]
    if times is not None:
      q = nodes * self._scale + (np.asarray(times, np.float64) - self._t0)
      end = np.clip(np.searchsorted(self._keys, q, side="left"), start, stop)
    else:
      end = stop
    pos = end[:, None] - k + np.arange(k)[None, :]
    mask = (pos >= start[:, None]) & (nodes[:, None] > 0)
    pos = np.where(mask, pos, 0)
    if len(self.nbr) == 0:
      z = np.zeros(pos.shape, np.int64)
      return z, z.astype(np.float64), z, np.zeros(pos.shape, bool)
    ids = np.where(mask, self.nbr[pos], 0)
    t = np.where(mask, self.t[pos], 0.0)
    eidx = np.where(mask, self.eidx[pos], 0)
    return ids, t, eidx, mask


class EventBatch(NamedTuple):
  """A fixed-size batch of events: real rows first, padding (id 0) after.

  Attributes:
    src, dst: int32 ``[B]``; t: float32 ``[B]``; mask: float32 ``[B]`` (1 on real events);
    pos: int64 ``[B]`` positions of the events in the stream (-1 on padding).
  """

  src: np.ndarray
  dst: np.ndarray
  t: np.ndarray
  mask: np.ndarray
  pos: np.ndarray


def event_batches(stream: EventStream, batch_size: int) -> Iterator[EventBatch]:
  """Consecutive batches of ``batch_size`` events in time order, the last one padded."""
  if batch_size < 1:
    raise ValueError(f"batch_size must be >= 1, got {batch_size}")
  for lo in range(0, len(stream), batch_size):
    pos = np.arange(lo, min(lo + batch_size, len(stream)))
    pad = batch_size - len(pos)
    yield EventBatch(
      src=np.pad(stream.src[pos], (0, pad)).astype(np.int32),
      dst=np.pad(stream.dst[pos], (0, pad)).astype(np.int32),
      t=np.pad(stream.t[pos], (0, pad)).astype(np.float32),
      mask=np.pad(np.ones(len(pos), np.float32), (0, pad)),
      pos=np.pad(pos, (0, pad), constant_values=-1),
    )


def time_encoding_frequencies(dim: int) -> np.ndarray:
  """Fixed TGAT/TGN frequencies :math:`w_i = 10^{-9 i / (d_t - 1)}`, ``i = 0..d_t-1``."""
  if dim < 1:
    raise ValueError(f"dim must be >= 1, got {dim}")
  if dim == 1:
    return np.ones(1, np.float32)
  return (10.0 ** (-9.0 * np.arange(dim) / (dim - 1))).astype(np.float32)


def time_encoding(dt: jnp.ndarray, dim: int) -> jnp.ndarray:
  """Non-learned harmonic time encoding :math:`\\phi(\\Delta t) = \\cos(\\Delta t\\, w)`.

  Args:
    dt: ``[...]`` time differences (negative values are clipped to 0).
    dim: ``d_t``, the number of frequencies.

  Returns:
    ``[..., d_t]`` encodings.
  """
  w = jnp.asarray(time_encoding_frequencies(dim))
  return jnp.cos(jnp.maximum(dt, 0.0)[..., None] * w)


def last_write_mask(ids: jnp.ndarray, mask: jnp.ndarray) -> jnp.ndarray:
  """``[n]`` bool: entry ``i`` is real and no later real entry has the same id.

  Writing ``values[i]`` to ``memory[ids[i]]`` for the entries of this mask gives the result of
  sequential writes in order (last write wins) with a duplicate-free scatter.
  """
  n = ids.shape[0]
  later = jnp.arange(n)[None, :] > jnp.arange(n)[:, None]
  overwritten = (ids[:, None] == ids[None, :]) & later & (mask[None, :] > 0)
  return (mask > 0) & ~overwritten.any(axis=1)
