"""Evaluation metrics and the stability reward of Ada-DyGNN.

* :func:`ranking_metrics`: MRR and Recall@k by cosine similarity against every memory row (the
  DyGNN protocol).
* :func:`auc_ap`: ROC-AUC and average precision of positive vs negative scores.
* :func:`stability_reward`: how similar a centre stays to its updated neighbours.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

__all__ = ["ranking_metrics", "pair_ranks", "auc_ap", "stability_reward", "REWARD_FORMS"]

REWARD_FORMS = ("paper", "official")
_EPS = 1e-8


def _unit(x: jnp.ndarray) -> jnp.ndarray:
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), _EPS)


def pair_ranks(
  embeddings: jnp.ndarray,
  src: jnp.ndarray,
  dst: jnp.ndarray,
  exclude_self: bool = False,
  candidates: jnp.ndarray | None = None,
) -> jnp.ndarray:
  """1-based ranks of each edge's partner in its endpoints' cosine-similarity lists.

  For an edge ``(u, i)``, every row ``v`` is scored by :math:`\\cos(x_u, x_v)`; the rank of ``i``
  is ``1 + #{v: s_v > s_i} + #{v < i: s_v = s_i}`` (a stable descending sort), and
  symmetrically the rank of ``u`` in ``x_i``'s list.

  Args:
    embeddings: ``[N, d]``.
    src, dst: int ``[B]`` row ids.
    exclude_self: drop ``u`` from ``u``'s list (and ``i`` from ``i``'s).
    candidates: optional bool ``[N]``, rows that may be ranked (others never count).

  Returns:
    int32 ``[B, 2]``: rank of ``i`` for ``u`` and rank of ``u`` for ``i``.
  """
  z = _unit(embeddings)
  n = z.shape[0]
  ok = jnp.ones(n, bool) if candidates is None else jnp.asarray(candidates, bool)

  def one(a, b):  # ranks b in a's list: a, b [B]
    sims = z[a] @ z.T  # [B, N]
    true = jnp.take_along_axis(sims, b[:, None], axis=1)
    rows = jnp.arange(n)[None, :]
    valid = ok[None, :] & (rows != b[:, None])
    if exclude_self:
      valid &= rows != a[:, None]
    better = (sims > true) | ((sims == true) & (rows < b[:, None]))
    return 1 + jnp.sum(better & valid, axis=1)

  src, dst = jnp.asarray(src), jnp.asarray(dst)
  return jnp.stack([one(src, dst), one(dst, src)], axis=1).astype(jnp.int32)


def ranking_metrics(
  embeddings,
  src,
  dst,
  ks: Sequence[int] = (20, 50),
  exclude_self: bool = False,
  candidates=None,
) -> dict:
  """Mean reciprocal rank and Recall@k of the edges ``(src, dst)``.

  With the ranks ``r_u`` (of ``i`` among all rows by cosine similarity to ``x_u``) and ``r_i``
  (see :func:`pair_ranks`):
  :math:`\\mathrm{MRR} = \\mathrm{mean}_e \\tfrac12 (1/r_u + 1/r_i)` and
  :math:`\\mathrm{R@}k = \\mathrm{mean}_e \\tfrac12([r_u \\le k] + [r_i \\le k])`. With
  ``exclude_self=False`` a node is in its own list (cosine 1), so the partner ranks at best 2.

  Args:
    embeddings: ``[N, d]`` node embeddings (memory rows).
    src, dst: int ``[B]`` edges.
    ks: the cut-offs.
    exclude_self: leave each endpoint out of its own list.
    candidates: optional bool ``[N]`` rows allowed in the lists (e.g. not the padding row).

  Returns:
    ``{"mrr": float, "recall": {k: float}}``.
  """
  src, dst = np.asarray(src), np.asarray(dst)
  if src.shape != dst.shape or src.ndim != 1 or len(src) == 0:
    raise ValueError(
      f"src and dst must be equal-length non-empty 1-D arrays, got {src.shape}, {dst.shape}"
    )
  emb = jnp.asarray(embeddings)
  if emb.ndim != 2:
    raise ValueError(f"embeddings must be [N, d], got shape {emb.shape}")
  n = emb.shape[0]
  if src.min() < 0 or dst.min() < 0 or max(src.max(), dst.max()) >= n:
    raise ValueError(f"edge ids must lie in 0..{n - 1}")
  ranks = np.asarray(pair_ranks(emb, src, dst, exclude_self, candidates), np.float64)
  return {
    "mrr": float(np.mean(1.0 / ranks)),
    "recall": {int(k): float(np.mean(ranks <= k)) for k in ks},
  }


def auc_ap(pos, neg) -> tuple[float, float]:
  """ROC-AUC (ties count one half) and average precision of ``pos`` (label 1) vs ``neg`` (0)."""
  pos, neg = np.asarray(pos, np.float64).ravel(), np.asarray(neg, np.float64).ravel()
  if len(pos) == 0 or len(neg) == 0:
    raise ValueError("auc_ap needs at least one positive and one negative score")
  scores = np.concatenate([pos, neg])
  labels = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
  # AUC from average ranks (Mann-Whitney U)
  order = np.argsort(scores, kind="stable")
  sorted_s = scores[order]
  ranks = np.empty(len(scores))
  _, first, counts = np.unique(sorted_s, return_index=True, return_counts=True)
  avg = first + (counts + 1) / 2.0
  ranks[order] = np.repeat(avg, counts)
  auc = (ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))
  # AP: sum over distinct thresholds (descending) of (R_n - R_{n-1}) P_n, as scikit-learn
  desc = np.argsort(-scores, kind="stable")
  s, y = scores[desc], labels[desc]
  last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
  tp = np.cumsum(y)[last]
  fp = (last + 1) - tp
  precision = tp / (tp + fp)
  recall = tp / len(pos)
  ap = np.sum(np.diff(np.r_[0.0, recall]) * precision)
  return float(auc), float(ap)


def stability_reward(
  center: jnp.ndarray,
  neighbours: jnp.ndarray,
  form: str = "paper",
  mask: jnp.ndarray | None = None,
) -> jnp.ndarray:
  """Local-structure stability: cosine similarity between centres and their neighbours.

  ``paper`` (per pair): :math:`r = \\mathrm{mean}_{b,j}\\, \\cos(x_b, y_{bj})`.
  ``official`` (whole batch): with each centre repeated once per slot, the mean of the full
  :math:`(Bk) \\times (Bk)` cosine matrix between centre rows ``p`` and neighbour rows ``q``,
  cross pairs of different centres included; it equals
  :math:`\\langle \\mathrm{mean}_p \\hat x_p, \\mathrm{mean}_q \\hat y_q \\rangle`.

  Args:
    center: ``[B, d]`` centre embeddings.
    neighbours: ``[B, k, d]`` neighbour embeddings.
    form: ``"paper"`` or ``"official"``.
    mask: optional ``[B, k]`` weights of the slots (padding 0); all slots by default.

  Returns:
    A scalar.
  """
  if form not in REWARD_FORMS:
    raise ValueError(f"form must be one of {list(REWARD_FORMS)}, got {form!r}")
  center, neighbours = jnp.asarray(center), jnp.asarray(neighbours)
  if center.ndim != 2 or neighbours.ndim != 3 or neighbours.shape[::2] != center.shape:
    raise ValueError(
      f"need center [B, d] and neighbours [B, k, d], got {center.shape}, {neighbours.shape}"
    )
  w = jnp.ones(neighbours.shape[:2]) if mask is None else jnp.asarray(mask, neighbours.dtype)
  total = jnp.maximum(w.sum(), 1.0)
  c, y = _unit(center), _unit(neighbours)
  if form == "paper":
    return jnp.sum(w * jnp.einsum("bd,bkd->bk", c, y)) / total
  mean_c = jnp.einsum("bk,bd->d", w, c) / total
  mean_y = jnp.einsum("bk,bkd->d", w, y) / total
  return jnp.dot(mean_c, mean_y)
