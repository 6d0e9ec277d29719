"""PlanKD's losses as pure functions of arrays (no simulator, no planner).

Shapes: ``B`` examples, ``K`` waypoints, ``N`` actors. Every function returns per-example
values ``(B,)``; their batch mean is the official scalar. Feed them the arrays of any planner
(InterFuser, TCP, the highway planners of :mod:`distill.plankd`).

References:
  Feng et al., "On the Road to Portability: Compressing End-to-End Motion Planner for
  Autonomous Driving", CVPR 2024, arXiv:2403.01238.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from distill._validation import check_ndim, check_positive

__all__ = [
  "INVALID_WAYPOINT",
  "safety_scores",
  "waypoint_ranking_loss",
  "feasible_margin",
  "attention_entropy_term",
  "attentive_waypoint_loss",
  "vib_features",
  "ib_loss",
  "bottleneck_l1",
]

Array = jax.Array
# Officially a target waypoint is invalid when a coordinate is >= this value.
INVALID_WAYPOINT = 1000.0


def _check_attention(attention: ArrayLike) -> Array:
  check_ndim("attention", attention, 2)
  return jnp.asarray(attention)


def _check_waypoints(name: str, w: ArrayLike) -> Array:
  if jnp.ndim(w) != 3 or jnp.shape(w)[-1] != 2:
    raise ValueError(f"{name} must have shape (B, K, 2), got {jnp.shape(w)}")
  return jnp.asarray(w)


def safety_scores(
  waypoints: ArrayLike,
  actor_pos: ArrayLike,
  actor_mask: ArrayLike | None = None,
  *,
  sigma: float = 3.0,
) -> Array:
  r"""Kernel density of the actors at each waypoint (PlanKD's safety score).

  .. math::
    s_{bj} = \sum_n m_{bn} \exp\!\Big(-\frac{\lVert w_{bj} - p_{bn}\rVert^2}{2\sigma^2}\Big)

  A high score marks a waypoint near traffic, where the planner must be careful.

  Args:
    waypoints: ``(B, K, 2)`` waypoints (the ground truth in PlanKD).
    actor_pos: ``(B, N, 2)`` actor positions (the official choice: where the actors are now),
      or ``(B, K, N, 2)``: their predicted positions at each waypoint's time.
    actor_mask: ``(B, N)`` (or ``(B, K, N)`` for time-aligned actors) validity of each actor.
      ``None`` applies the official padding rule :math:`m = [p_x + p_y \neq 0]`, which drops the
      zero padding but also any real actor on the line :math:`x = -y`.
    sigma: kernel width in metres (official 3.0).

  Returns:
    ``(B, K)`` scores.
  """
  w = _check_waypoints("waypoints", waypoints)
  check_positive("sigma", sigma)
  p = jnp.asarray(actor_pos)
  b, k = w.shape[:2]
  if p.ndim == 3 and p.shape[0] == b and p.shape[-1] == 2:
    p = p[:, None]  # (B, 1, N, 2)
  elif not (p.ndim == 4 and p.shape[:2] == (b, k) and p.shape[-1] == 2):
    raise ValueError(
      f"actor_pos must have shape (B, N, 2) or (B, K, N, 2) with B={b}, K={k}, "
      f"got {jnp.shape(actor_pos)}"
    )
  n = p.shape[2]
  if actor_mask is None:
    m = (p[..., 0] + p[..., 1]) != 0
  else:
    m = jnp.asarray(actor_mask)
    if m.shape == (b, n):
      m = m[:, None]
    elif m.shape != (b, k, n) or p.shape[1] != k:
      raise ValueError(
        f"actor_mask must have shape (B, N)=({b}, {n})"
        + (f" or (B, K, N)=({b}, {k}, {n})" if p.shape[1] == k else "")
        + f", got {m.shape}"
      )
  d2 = jnp.sum((w[:, :, None, :] - p) ** 2, axis=-1)  # (B, K, N)
  return jnp.sum(jnp.where(m, jnp.exp(-d2 / (2.0 * sigma**2)), 0.0), axis=-1)


def waypoint_ranking_loss(
  attention: ArrayLike,
  safety: ArrayLike,
  *,
  margin: float = 0.1,
  exclude_ties: bool = False,
) -> Array:
  r"""Margin ranking of the attention by safety score, over all ordered waypoint pairs.

  .. math::
    L_{rank} = \frac{1}{K^2}\sum_{j,k} \max\big(0,\,
      -\operatorname{sign}(s_j - s_k)\,(a_j - a_k) + \delta\big)

  Waypoints with a higher safety score (more traffic nearby) should get more attention. As in
  the official code all :math:`K^2` pairs count, ``j = k`` and ties included; each of those adds
  the constant :math:`\delta`, so uniform attention gives exactly :math:`\delta` (the floor of a
  tie-free ranking is reached only by a perfect one).

  Args:
    attention: ``(B, K)`` attention over waypoints.
    safety: ``(B, K)`` safety scores (gradients are not taken through them).
    margin: :math:`\delta` (official 0.1).
    exclude_ties: average only over pairs with :math:`s_j \neq s_k` (not official).

  Returns:
    ``(B,)`` loss.
  """
  a = _check_attention(attention)
  if jnp.shape(safety) != a.shape:
    raise ValueError(
      f"attention and safety must have the same shape (B, K), got {a.shape} and {jnp.shape(safety)}"
    )
  s = jax.lax.stop_gradient(jnp.asarray(safety))
  sign = jnp.sign(s[:, :, None] - s[:, None, :])
  hinge = jnp.maximum(0.0, -sign * (a[:, :, None] - a[:, None, :]) + margin)
  if not exclude_ties:
    return jnp.mean(hinge, axis=(1, 2))
  keep = sign != 0
  return jnp.sum(jnp.where(keep, hinge, 0.0), axis=(1, 2)) / jnp.maximum(
    jnp.sum(keep, axis=(1, 2)), 1
  )


def feasible_margin(num_waypoints: int) -> float:
  r"""The largest ranking margin that attention weights summing to 1 can satisfy.

  With :math:`K` waypoints of distinct safety scores, every ordered pair of consecutive ranks
  needs :math:`a_{(i)} - a_{(i+1)} \ge \delta`, so :math:`a_{(i)} \ge (K - i)\,\delta` and
  :math:`\sum_i a_{(i)} \ge \delta K(K-1)/2`. Hence

  .. math::
    \delta_{\max} = \frac{2}{K(K-1)}

  (1/45 ≈ 0.022 for the official :math:`K = 10`; the official :math:`\delta = 0.1` is feasible
  only up to :math:`K = 5`). Above it :func:`waypoint_ranking_loss` can never be met by a
  distribution and keeps pushing the mass onto the top-scored waypoint.

  Args:
    num_waypoints: :math:`K \ge 2`.

  Returns:
    :math:`2 / (K(K-1))`.
  """
  if int(num_waypoints) != num_waypoints or num_waypoints < 2:
    raise ValueError(f"num_waypoints must be an integer >= 2, got {num_waypoints}")
  return 2.0 / (num_waypoints * (num_waypoints - 1))


def attention_entropy_term(attention: ArrayLike, *, eps: float = 1e-8) -> Array:
  r"""Minus the entropy of the attention; minimising it spreads the attention.

  .. math::
    L_e = \sum_j a_j \log(a_j + \epsilon)

  Args:
    attention: ``(B, K)`` attention over waypoints.
    eps: the official 1e-8 inside the log.

  Returns:
    ``(B,)`` term.
  """
  a = _check_attention(attention)
  return jnp.sum(a * jnp.log(a + eps), axis=-1)


def attentive_waypoint_loss(
  attention: ArrayLike,
  pred: ArrayLike,
  target: ArrayLike,
  mask: ArrayLike | None = None,
  *,
  normalize: str = "all",
) -> Array:
  r"""L1 on waypoints weighted by the attention.

  .. math::
    L_w = \sum_j a_j \cdot \frac{1}{2}\sum_{c \in \{x, y\}} |\hat w_{jc} - w_{jc}|\, v_{jc}

  Since :math:`\sum_j a_j = 1` this has the scale of InterFuser's weighted waypoint L1 (weights
  summing to 1); uniform attention gives the equal-weight L1. The attention is not detached, so
  this term also trains the attention (towards easy waypoints; the ranking and entropy terms
  counteract it). With ``normalize="all"`` (official) invalid entries are zeroed but still
  counted in the denominators; with ``"valid"`` the sum is divided by the valid fraction
  :math:`\sum v / 2K` instead.

  Args:
    attention: ``(B, K)`` attention over waypoints.
    pred: ``(B, K, 2)`` predicted waypoints.
    target: ``(B, K, 2)`` target waypoints.
    mask: ``(B, K)`` or ``(B, K, 2)`` validity :math:`v`. ``None`` applies the official rule:
      an entry of ``target`` is invalid when it is ``>= 1000``.
    normalize: ``"all"`` or ``"valid"``.

  Returns:
    ``(B,)`` loss.
  """
  a = _check_attention(attention)
  p = _check_waypoints("pred", pred)
  t = _check_waypoints("target", target)
  if p.shape != t.shape or p.shape[:2] != a.shape:
    raise ValueError(
      f"pred and target must have shape (B, K, 2) matching attention (B, K)={a.shape}, "
      f"got {p.shape} and {t.shape}"
    )
  if normalize not in ("all", "valid"):
    raise ValueError(f"normalize must be 'all' or 'valid', got {normalize!r}")
  if mask is None:
    v = t < INVALID_WAYPOINT
  else:
    v = jnp.asarray(mask)
    if v.shape == a.shape:
      v = v[..., None]
    elif v.shape != t.shape:
      raise ValueError(f"mask must have shape (B, K) or (B, K, 2), got {v.shape}")
    v = jnp.broadcast_to(v, t.shape).astype(bool)
  err = jnp.where(v, jnp.abs(p - t), 0.0)
  loss = jnp.sum(a * jnp.mean(err, axis=-1), axis=-1)
  if normalize == "valid":
    frac = jnp.sum(v, axis=(1, 2)) / v[0].size
    loss = jnp.where(frac > 0, loss / jnp.maximum(frac, 1e-12), 0.0)
  return loss


def vib_features(feats: Sequence[ArrayLike] | ArrayLike, *, channel_axis: int = -1) -> Array:
  r"""The bottleneck's input: channel mean of each feature map, flattened and concatenated.

  .. math::
    h = \operatorname{concat}_v\big(\operatorname{flatten}(\tfrac{1}{C_v}\textstyle\sum_c F_v)\big)

  The channel mean lets a teacher and a student of different widths share one encoder.

  Args:
    feats: one ``(B, H, W, C)`` map or a sequence of them (one per camera view). Pass
      ``channel_axis=1`` for PyTorch-ordered ``(B, C, H, W)`` maps.
    channel_axis: the channel axis.

  Returns:
    ``(B, D)`` with ``D = sum_v H_v W_v``.
  """
  if not isinstance(feats, (list, tuple)):
    feats = [feats]
  out = []
  for i, f in enumerate(feats):
    check_ndim(f"feats[{i}]", f, 4)
    m = jnp.mean(jnp.asarray(f), axis=channel_axis)
    out.append(m.reshape(m.shape[0], -1))
  if len({o.shape[0] for o in out}) != 1:
    raise ValueError(f"feature maps disagree on the batch size: {[o.shape for o in out]}")
  return jnp.concatenate(out, axis=-1)


def ib_loss(
  mu: ArrayLike,
  sigma: ArrayLike,
  logits: ArrayLike,
  labels: ArrayLike,
  *,
  class_sizes: Sequence[int],
  beta: float = 1e-3,
) -> Array:
  r"""The variational information-bottleneck loss, in bits.

  .. math::
    L_{IB} = \frac{1}{\ln 2}\Big(\sum_{i=1}^{M} \mathrm{CE}(y^i, \mathrm{logits}^i)
      + \beta \sum_d -\tfrac12\big(1 + 2\log\sigma_d - \mu_d^2 - \sigma_d^2\big)\Big)

  the variational form of :math:`\max_Z \sum_i I(Z, Y^i) - \beta I(Z, H)`.

  Args:
    mu: ``(B, Z)`` posterior mean.
    sigma: ``(B, Z)`` posterior standard deviation (> 0).
    logits: ``(B, sum(class_sizes))`` decoder logits, target after target.
    labels: ``(B, M)`` integer class of each of the ``M`` targets.
    class_sizes: classes per target.
    beta: weight of the KL term (official 1e-3).

  Returns:
    ``(B,)`` loss; its batch mean is the official value.
  """
  check_ndim("mu", mu, 2)
  if jnp.shape(sigma) != jnp.shape(mu):
    raise ValueError(f"sigma must have mu's shape {jnp.shape(mu)}, got {jnp.shape(sigma)}")
  sizes = [int(c) for c in class_sizes]
  b = jnp.shape(mu)[0]
  if jnp.shape(logits) != (b, sum(sizes)):
    raise ValueError(
      f"logits must have shape (B, sum(class_sizes))=({b}, {sum(sizes)}), got {jnp.shape(logits)}"
    )
  if jnp.shape(labels) != (b, len(sizes)):
    raise ValueError(f"labels must have shape (B, M)=({b}, {len(sizes)}), got {jnp.shape(labels)}")
  ce = jnp.zeros((b,))
  start = 0
  for i, c in enumerate(sizes):
    logp = jax.nn.log_softmax(jnp.asarray(logits)[:, start : start + c])
    ce = ce - jnp.take_along_axis(logp, jnp.asarray(labels)[:, i : i + 1].astype(int), -1)[:, 0]
    start += c
  mu, sigma = jnp.asarray(mu), jnp.asarray(sigma)
  kl = jnp.sum(-0.5 * (1.0 + 2.0 * jnp.log(sigma) - mu**2 - sigma**2), axis=-1)
  return (ce + beta * kl) / math.log(2.0)


def bottleneck_l1(z_t: ArrayLike, z_s: ArrayLike) -> Array:
  r"""L1 between the teacher's and the student's bottleneck codes.

  .. math::
    L_z = \frac{1}{Z}\sum_d |z_T - z_S|

  Args:
    z_t: ``(B, Z)`` teacher codes (stop the gradient yourself if the teacher is frozen).
    z_s: ``(B, Z)`` student codes.

  Returns:
    ``(B,)`` loss.
  """
  check_ndim("z_s", z_s, 2)
  if jnp.shape(z_t) != jnp.shape(z_s):
    raise ValueError(
      f"z_t and z_s must have the same shape, got {jnp.shape(z_t)} and {jnp.shape(z_s)}"
    )
  return jnp.mean(jnp.abs(jnp.asarray(z_t) - jnp.asarray(z_s)), axis=-1)
