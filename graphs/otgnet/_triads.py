"""Triad candidates (closed, open), greedy importance + diversity selection, kNN pseudo-labels."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from graphs._temporal import NeighborIndex

__all__ = ["Triads", "triad_candidates", "greedy_select", "coverage_radius", "knn_pseudo_labels"]


class Triads(NamedTuple):
  """Triads as rows: ``nodes [n, 3]`` (s, d, u), replay ``edges [n, 2]`` (stream edge ids),
  and whether each has a pattern pair (``real [n]``: degenerate fall-backs have none)."""

  nodes: np.ndarray
  edges: np.ndarray
  real: np.ndarray

  def take(self, idx) -> Triads:
    return Triads(self.nodes[idx], self.edges[idx], self.real[idx])


def _empty() -> Triads:
  return Triads(np.zeros((0, 3), np.int64), np.zeros((0, 2), np.int64), np.zeros(0, bool))


def triad_candidates(index: NeighborIndex, src, dst, t, eidx, window: int = 20, min_count: int = 5):
  """Closed and open triads around the class edges ``(src, dst, t, eidx)`` (arrays ``[E]``).

  Closed: ``u`` is among the ``window`` most recent neighbours of both ``s`` and ``d`` before
  ``t``; replay edges ``(s-u, d-u)``, pattern pair ``(s, d)`` vs ``(d, u)``. Open: ``u`` is among
  ``s``'s most recent neighbours over all time, ``u != d`` and not among ``d``'s; replay edges
  ``(s-u, s-d)``. With fewer than ``min_count`` of a kind, degenerate triads (the class edge
  twice) are added.

  Returns:
    ``(closed, open)`` :class:`Triads`.
  """
  ns, _, es, ms = index.most_recent(src, t, window)
  nd, _, ed, md = index.most_recent(dst, t, window)
  as_, _, eas, mas = index.most_recent(src, None, window)
  ad, _, _, mad = index.most_recent(dst, None, window)
  closed, opened, seen_c, seen_o = [], [], set(), set()
  for j in range(len(src)):
    s, d = int(src[j]), int(dst[j])
    d_before = {int(u): int(e) for u, e, m in zip(nd[j], ed[j], md[j], strict=True) if m}
    for u, e, m in zip(ns[j], es[j], ms[j], strict=True):
      u = int(u)
      if m and u in d_before and u not in (s, d) and (s, d, u) not in seen_c:
        seen_c.add((s, d, u))
        closed.append(((s, d, u), (int(e), d_before[u])))
    d_all = {int(u) for u, m in zip(ad[j], mad[j], strict=True) if m}
    for u, e, m in zip(as_[j], eas[j], mas[j], strict=True):
      u = int(u)
      if m and u != d and u != s and u not in d_all and (s, d, u) not in seen_o:
        seen_o.add((s, d, u))
        opened.append(((s, d, u), (int(e), int(eidx[j]))))

  def pack(rows):
    real = np.ones(len(rows), bool)
    if len(rows) < min_count and len(src):
      extra = [
        ((int(src[j]), int(dst[j]), int(dst[j])), (int(eidx[j]),) * 2)
        for j in range(min(min_count - len(rows), len(src)))
      ]
      rows = rows + extra
      real = np.concatenate([real, np.zeros(len(extra), bool)])
    if not rows:
      return _empty()
    nodes = np.asarray([r[0] for r in rows], np.int64)
    edges = np.asarray([r[1] for r in rows], np.int64)
    return Triads(nodes, edges, real)

  return pack(closed), pack(opened)


def coverage_radius(
  emb: np.ndarray, rng: np.random.Generator, pairs: int = 100, rank: int = 21
) -> float:
  """The ``rank``-th smallest of ``pairs`` random pair distances (all of them when fewer)."""
  n = len(emb)
  if n < 2:
    return 0.0
  i, j = rng.integers(n, size=pairs), rng.integers(n, size=pairs)
  dist = np.sort(np.linalg.norm(emb[i] - emb[j], axis=1))
  return float(dist[min(rank, len(dist)) - 1])


def greedy_select(
  importance: np.ndarray, emb: np.ndarray, k: int, gamma: float, radius: float
) -> np.ndarray:
  """Greedy importance + coverage: repeatedly pick the unselected candidate maximising
  ``importance + gamma * |uncovered within radius| / n`` and mark its ball covered.

  Args:
    importance: ``[n]`` scores; emb: ``[n, d]`` embeddings; k: picks; gamma: diversity weight;
      radius: L2 coverage radius (strict ``<``).

  Returns:
    ``[min(k, n)]`` indices in pick order.
  """
  n = len(importance)
  sq = np.einsum("ij,ij->i", emb, emb)
  dist2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * emb @ emb.T, 0.0)
  within = dist2 < radius**2
  np.fill_diagonal(within, radius > 0)
  covered = np.zeros(n, bool)
  chosen = np.zeros(n, bool)
  picks = []
  for _ in range(min(k, n)):
    gain = (within & ~covered[None, :]).sum(1) / max(n, 1)
    score = np.where(chosen, -np.inf, importance + gamma * gain)
    p = int(np.argmax(score))
    picks.append(p)
    chosen[p] = True
    covered |= within[p]
  return np.asarray(picks, np.int64)


def knn_pseudo_labels(index: NeighborIndex, nodes, labels, classes, k: int = 50) -> np.ndarray:
  """Majority label among each node's ``k`` most recent neighbours (all time) whose labels lie
  in ``classes``; ties go to the smallest class, no such neighbour to ``classes[0]``."""
  classes = np.asarray(classes)
  ids, _, _, mask = index.most_recent(np.asarray(nodes), None, k)
  nl = labels[ids]
  out = np.full(len(nodes), classes[0], np.int64)
  for r in range(len(nodes)):
    votes = nl[r][mask[r] & np.isin(nl[r], classes)]
    if len(votes):
      vals, counts = np.unique(votes, return_counts=True)
      out[r] = vals[np.argmax(counts)]  # np.unique sorts: the first maximum is the smallest
  return out
