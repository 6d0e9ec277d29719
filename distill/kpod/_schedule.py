"""KPOD's in-rationale progressive schedule: step difficulty, the difficulty budget ``D(t)``,
the submodular value of a set of questions over K-means clusters, and greedy selection.

Difficulties are computed once with ``jax.numpy``; the per-stage selection runs once per epoch
on the host (NumPy), as data scheduling, outside the jitted training step.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from distill._validation import check_in_unit_interval, check_same_shape, is_concrete

Array = jax.Array


def step_difficulty(
  token_logprobs: ArrayLike, weights: ArrayLike, step_ids: ArrayLike, *, num_steps: int
) -> Array:
  r"""Difficulty of each rationale step for the student before distillation.

  .. math::
    d_k = -\sum_{j \in \text{step } k} \hat w_j \log P(r_j \mid r_{<j}, x; \theta_s),\qquad
    \hat w_j = \frac{e^{w_j}}{\sum_{j' \in \text{step } k} e^{w_{j'}}}

  Args:
    token_logprobs: ``log P(r_j | r_<j, x)`` of each token under the student, ``(B, L)``.
    weights: token weights ``w`` from the weighting module, ``(B, L)``.
    step_ids: step index of each token, ``(B, L)``; ``-1`` for tokens outside the rationale.
    num_steps: ``S``, the largest number of steps (output width).

  Returns:
    ``(B, S)`` difficulties; 0 for steps a question does not have.

  Raises:
    ValueError: for mismatched shapes, or (on concrete inputs) a question whose rationale holds
      no token.
  """
  check_same_shape("token_logprobs", token_logprobs, "weights", weights)
  check_same_shape("token_logprobs", token_logprobs, "step_ids", step_ids)
  if is_concrete(step_ids):
    empty = ~np.any(np.asarray(step_ids) >= 0, axis=-1)
    if np.any(empty):
      raise ValueError(
        f"empty rationale: questions {np.flatnonzero(empty)[:5].tolist()} have no step"
      )
  onehot_BxLxS = jax.nn.one_hot(jnp.asarray(step_ids), num_steps)  # -1 -> all zeros
  w = jnp.asarray(weights)[..., None]
  # Softmax of w within each step (stabilised per step).
  w_max = jnp.max(jnp.where(onehot_BxLxS > 0, w, -jnp.inf), axis=1, keepdims=True)
  e = jnp.exp(w - jnp.where(jnp.isfinite(w_max), w_max, 0.0)) * onehot_BxLxS
  w_hat = e / jnp.maximum(jnp.sum(e, axis=1, keepdims=True), 1e-30)
  return -jnp.sum(w_hat * jnp.asarray(token_logprobs)[..., None], axis=1)


def difficulty_budget(
  t: ArrayLike,
  *,
  total: ArrayLike,
  num_stages: int,
  power: ArrayLike = 0.5,
  c0_fraction: ArrayLike = 0.3,
) -> Array:
  r"""Global difficulty budget of stage ``t``.

  .. math::
    D(t) = u\,\frac{t^{p+1}}{p+1} + C_0,\qquad u = \frac{(B - C_0)(p+1)}{T^{p+1}},
    \qquad C_0 = c_0 B

  so ``D(0) = C_0`` and ``D(T) = B``; ``t`` is clipped to ``[0, T]``.

  Args:
    t: stage (may be traced).
    total: ``B``, the total difficulty of all rationales.
    num_stages: ``T`` (the paper: half the epochs).
    power: ``p`` (0.5 in the paper).
    c0_fraction: ``C_0 / B`` (0.3 in the paper).
  """
  if num_stages < 1:
    raise ValueError(f"num_stages must be >= 1, got {num_stages}")
  check_in_unit_interval("c0_fraction", c0_fraction)
  c0 = c0_fraction * total
  u = (total - c0) * (power + 1) / num_stages ** (power + 1)
  tc = jnp.clip(jnp.asarray(t, jnp.float32), 0, num_stages)
  return u * tc ** (power + 1) / (power + 1) + c0


def kmeans(x: ArrayLike, k: int, *, seed: int = 0, iters: int = 50) -> np.ndarray:
  """K-means (k-means++ initialisation, Lloyd iterations) of the rows of ``x``; labels ``(N,)``."""
  x = np.asarray(x, np.float64)
  n = len(x)
  if not 1 <= k <= n:
    raise ValueError(f"k must lie in [1, {n}] (the number of points), got {k}")
  rng = np.random.default_rng(seed)
  centers = [x[rng.integers(n)]]
  for _ in range(1, k):
    d2 = np.min(((x[:, None] - np.asarray(centers)[None]) ** 2).sum(-1), axis=1)
    p = d2 / d2.sum() if d2.sum() > 0 else np.full(n, 1.0 / n)
    centers.append(x[rng.choice(n, p=p)])
  c = np.asarray(centers)
  labels = np.zeros(n, np.int64)
  for _ in range(iters):
    labels = np.argmin(((x[:, None] - c[None]) ** 2).sum(-1), axis=1)
    new = np.asarray([x[labels == j].mean(0) if np.any(labels == j) else c[j] for j in range(k)])
    if np.allclose(new, c):
      break
    c = new
  return labels


def submodular_value(
  selected: ArrayLike,
  gains: ArrayLike,
  clusters: ArrayLike,
  delta_budget: float,
  *,
  beta: float = 12.0,
) -> float:
  r"""KPOD's value of a set ``S`` of questions to advance at this stage.

  .. math::
    F(S) = -(\Delta D - \Delta H(S)) + \beta \sum_k \sqrt{|C_k \cap S|},
    \qquad \Delta H(S) = \sum_{i \in S} \Delta h_i

  The first term rewards using the budget, the second diversity over the clusters ``C_k``.

  Args:
    selected: boolean ``(N,)`` membership of ``S``.
    gains: ``Δh_i``, the difficulty question ``i`` adds if advanced, ``(N,)``.
    clusters: cluster id of each question, ``(N,)``.
    delta_budget: ``ΔD``.
    beta: ``β`` (12 in the paper).
  """
  s = np.asarray(selected, bool)
  counts = np.bincount(np.asarray(clusters)[s], minlength=1)
  return float(-(delta_budget - np.sum(np.asarray(gains)[s])) + beta * np.sum(np.sqrt(counts)))


def greedy_select(
  gains: ArrayLike,
  clusters: ArrayLike,
  delta_budget: float,
  *,
  beta: float = 12.0,
  eligible: ArrayLike | None = None,
) -> np.ndarray:
  r"""Greedy maximisation of :func:`submodular_value` subject to :math:`\Delta H(S) \le \Delta D`.

  Repeatedly adds the eligible question of largest marginal gain
  :math:`\Delta h_i + \beta(\sqrt{n_k + 1} - \sqrt{n_k})` (``n_k`` the chosen questions of its
  cluster) among those that still fit the remaining budget, until none fits. (The paper uses a
  threshold-greedy variant of the same rule.)

  Returns:
    Boolean ``(N,)`` selection.
  """
  gains = np.asarray(gains, np.float64)
  clusters = np.asarray(clusters)
  if gains.shape != clusters.shape or gains.ndim != 1:
    raise ValueError(f"gains and clusters must be (N,) arrays, got {gains.shape}, {clusters.shape}")
  if np.any(gains < 0):
    raise ValueError("gains must be >= 0")
  open_ = np.ones_like(gains, bool) if eligible is None else np.asarray(eligible, bool).copy()
  chosen = np.zeros_like(gains, bool)
  counts = np.zeros(int(clusters.max(initial=0)) + 1)
  remaining = float(delta_budget)
  while True:
    fits = open_ & (gains <= remaining + 1e-9)
    if not fits.any():
      return chosen
    marginal = gains + beta * (np.sqrt(counts[clusters] + 1) - np.sqrt(counts[clusters]))
    i = int(np.argmax(np.where(fits, marginal, -np.inf)))
    chosen[i], open_[i] = True, False
    counts[clusters[i]] += 1
    remaining -= gains[i]


def uniform_given_steps(num_steps: ArrayLike, stage: int) -> np.ndarray:
  """The plain progressive schedule: at stage ``t >= 1`` the last ``t`` steps are generated,
  so ``max(n_i - t, 0)`` steps are given as input (stage 0 is the same as stage 1)."""
  n = np.asarray(num_steps)
  return np.maximum(n - max(stage, 1), 0)


class KPODSchedule:
  """Number of rationale steps given as input to each question at each stage.

  Stage 0 generates only the last step (``c_i = n_i - 1``); at each stage ``t = 1..T-1`` the
  questions chosen by :func:`greedy_select` (budget ``ΔD = D(t) - H``, ``H`` the difficulty
  already generated) give ``delta_steps`` fewer steps; from stage ``T`` on the whole rationale
  is generated (``c_i = 0``). ``c_i(t)`` never increases.

  Args:
    difficulties: per question, the difficulty of each of its ``n_i >= 1`` steps.
    clusters: cluster id of each question (e.g. :func:`kmeans` of question embeddings).
    num_stages: ``T``.
    power: ``p`` of :func:`difficulty_budget`.
    c0_fraction: ``C_0 / B``.
    beta: diversity weight ``β``.
    delta_steps: ``Δs``, steps a chosen question advances by (not given in the paper).
  """

  def __init__(
    self,
    difficulties: Sequence[ArrayLike],
    clusters: ArrayLike,
    *,
    num_stages: int,
    power: float = 0.5,
    c0_fraction: float = 0.3,
    beta: float = 12.0,
    delta_steps: int = 1,
  ):
    if delta_steps < 1:
      raise ValueError(f"delta_steps must be >= 1, got {delta_steps}")
    diffs = [np.maximum(np.asarray(d, np.float64), 0.0) for d in difficulties]
    if any(len(d) == 0 for d in diffs):
      raise ValueError("empty rationale: every question needs at least one step")
    clusters = np.asarray(clusters)
    if clusters.shape != (len(diffs),):
      raise ValueError(f"clusters must have shape ({len(diffs)},), got {clusters.shape}")
    n = np.asarray([len(d) for d in diffs])
    total = float(sum(d.sum() for d in diffs))
    given = n - 1
    plan = [given.copy()]
    for t in range(1, num_stages):
      generated = sum(d[c:].sum() for d, c in zip(diffs, given, strict=True))
      budget = float(
        difficulty_budget(
          t, total=total, num_stages=num_stages, power=power, c0_fraction=c0_fraction
        )
      )
      gains = np.asarray(
        [d[max(c - delta_steps, 0) : c].sum() for d, c in zip(diffs, given, strict=True)]
      )
      chosen = greedy_select(gains, clusters, budget - generated, beta=beta, eligible=given > 0)
      given = np.where(chosen, np.maximum(given - delta_steps, 0), given)
      plan.append(given.copy())
    plan.append(np.zeros_like(given))
    self.num_steps = n
    self.num_stages = num_stages
    self.plan = np.stack(plan)  # (T + 1, N)

  def given_steps(self, stage: int) -> np.ndarray:
    """``c_i(t)`` for every question, ``(N,)``; stages past ``T`` give 0."""
    return self.plan[min(max(stage, 0), self.num_stages)]
