"""The hierarchical agent of FreeKD: node-level and structure-level policies, states, rewards.

All functions are pure and shape-static; actions are int/float arrays of length ``N``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jraph
from flax import nnx

__all__ = [
  "Policy",
  "node_state",
  "structure_state",
  "neighbourhood_rewards",
  "reinforce_loss",
  "Agent",
]


class Policy(nnx.Module):
  """MLP policy ``d -> width -> width -> num_actions`` with ReLU, returning logits.

  States are standardised per feature over the nodes of the step (a stop-gradient batch
  normalisation without running statistics), so losses and entropies share one scale.
  """

  def __init__(self, in_features: int, num_actions: int, *, width: int = 64, rngs: nnx.Rngs):
    self.l1 = nnx.Linear(in_features, width, rngs=rngs)
    self.l2 = nnx.Linear(width, width, rngs=rngs)
    self.out = nnx.Linear(width, num_actions, rngs=rngs, kernel_init=nnx.initializers.zeros_init())

  def __call__(self, state_NxD: jax.Array, node_mask: jax.Array | None = None) -> jax.Array:
    """Action logits ``[N, A]``; ``node_mask`` ``[N]`` (1 = real node) restricts the
    standardisation statistics to real nodes (padding excluded)."""
    w = jnp.ones(state_NxD.shape[:1]) if node_mask is None else node_mask
    w = (w / jnp.maximum(w.sum(), 1.0))[:, None]
    mean = jnp.sum(w * state_NxD, 0, keepdims=True)
    std = jnp.sqrt(jnp.sum(w * (state_NxD - mean) ** 2, 0, keepdims=True))
    x = jax.lax.stop_gradient((state_NxD - mean) / jnp.maximum(std, 1e-6))
    return self.out(jax.nn.relu(self.l2(jax.nn.relu(self.l1(x)))))


def _entropy(p: jax.Array) -> jax.Array:
  return -jnp.sum(p * jnp.log(jnp.maximum(p, 1e-12)), -1)


def node_state(
  probs_KxNxC: jax.Array,
  losses_KxN: jax.Array,
  train_mask: jax.Array,
  graph: jraph.GraphsTuple,
  *,
  hidden_KxNxH: jax.Array | None = None,
) -> jax.Array:
  """Per-node state of the node-level policy (built from stop-gradient signals).

  For each network ``k``: its loss :math:`l^k_i` (0 on unlabelled nodes unless the caller
  passes pseudo-label losses), entropy :math:`H(p^k_i)` and confidence :math:`\\max p^k_i`;
  then ``is_labeled``, the disagreement (``K = 2``: :math:`\\mathrm{KL}(p^0_i \\Vert p^1_i)`;
  ``K > 2``: mean KL to the average prediction) and :math:`\\log(1 + \\deg_i)`; optionally all
  embeddings.

  Returns:
    ``[N, 3K + 3 (+ K H)]`` float array.
  """
  p = jax.lax.stop_gradient(probs_KxNxC)
  logp = jnp.log(jnp.maximum(p, 1e-12))
  k = p.shape[0]
  if k == 2:
    disagreement = jnp.sum(p[0] * (logp[0] - logp[1]), -1)
  else:
    mean_p = p.mean(0)
    disagreement = jnp.mean(jnp.sum(p * (logp - jnp.log(jnp.maximum(mean_p, 1e-12))[None]), -1), 0)
  s, r = graph.senders, graph.receivers
  n = p.shape[1]
  deg = jax.ops.segment_sum(((s != r) & (graph.edges > 0)).astype(p.dtype), r, n)
  cols = [
    losses_KxN.T,
    _entropy(p).T,
    p.max(-1).T,
    train_mask[:, None],
    disagreement[:, None],
    jnp.log1p(deg)[:, None],
  ]
  if hidden_KxNxH is not None:
    cols.append(jnp.transpose(hidden_KxNxH, (1, 0, 2)).reshape(n, -1))
  return jax.lax.stop_gradient(jnp.concatenate(cols, -1))


def structure_state(
  state_NxD: jax.Array, actions: jax.Array, graph: jraph.GraphsTuple
) -> jax.Array:
  """State of the structure-level policy.

  .. math::
    s'_i = [s_i,\\ \\overline{s}_{j \\in N(i), a_j = a_i},\\ \\overline{s}_{j \\in N(i),
    a_j \\ne a_i},\\ \\mathrm{frac\\_same}_i]

  Returns:
    ``[N, 3D + 1]``.
  """
  s, r = graph.senders, graph.receivers
  n = state_NxD.shape[0]
  edge = ((s != r) & (graph.edges > 0)).astype(state_NxD.dtype)
  same = edge * (actions[s] == actions[r])
  diff = edge - same

  def mean_over(w):
    total = jax.ops.segment_sum(state_NxD[s] * w[:, None], r, n)
    count = jax.ops.segment_sum(w, r, n)
    return total / jnp.maximum(count, 1.0)[:, None], count

  mean_same, n_same = mean_over(same)
  mean_diff, n_diff = mean_over(diff)
  frac_same = n_same / jnp.maximum(n_same + n_diff, 1.0)
  return jnp.concatenate([state_NxD, mean_same, mean_diff, frac_same[:, None]], -1)


def neighbourhood_rewards(
  node_losses_N: jax.Array, train_mask: jax.Array, graph: jraph.GraphsTuple, *, hops: int = 1
) -> tuple[jax.Array, jax.Array]:
  """Local reward: minus the mean labelled loss over the node and its neighbourhood.

  .. math::
    r_i = -\\frac{1}{|\\mathcal N_h(i) \\cap V_L|} \\sum_{j \\in \\mathcal N_h(i) \\cap V_L} l_j,
    \\qquad \\mathcal N_h(i) = \\{i\\} \\cup \\text{nodes within } h \\text{ hops}

  For ``hops=2`` each node ``j`` is weighted by the number of walks of length <= 2 (with
  self loops) from ``j`` to ``i``, i.e. the mean uses :math:`(A + I)^2`.

  Args:
    node_losses_N: per-node loss ``l_j`` (only labelled entries are read).
    train_mask: ``[N]`` labelled-node mask.
    graph: the graph (self loops and zero-weight edges are handled).
    hops: 1 or 2.

  Returns:
    ``(rewards [N], mask [N])``; the mask is 0 for nodes with no labelled node in reach.
  """
  if hops not in (1, 2):
    raise ValueError(f"hops must be 1 or 2, got {hops}")
  s, r = graph.senders, graph.receivers
  n = node_losses_N.shape[0]
  edge = ((s != r) & (graph.edges > 0)).astype(node_losses_N.dtype)

  def spread(v):  # v_i + sum over neighbours, as a reachability-weighted sum
    return v + jax.ops.segment_sum(v[s] * edge, r, n)

  total, count = node_losses_N * train_mask, train_mask
  for _ in range(hops):
    total, count = spread(total), spread(count)
  mask = (count > 0).astype(node_losses_N.dtype)
  return -total / jnp.maximum(count, 1.0), mask


def reinforce_loss(
  logits_NxA: jax.Array,
  actions: jax.Array,
  advantages: jax.Array,
  mask: jax.Array,
  *,
  entropy_bonus: float = 0.0,
) -> jax.Array:
  """REINFORCE with a baseline, averaged over the unmasked nodes.

  .. math::
    \\mathcal L = -\\frac{\\sum_i m_i (r_i - b) \\log \\pi(a_i \\mid s_i)}{\\sum_i m_i}
      - \\beta \\frac{\\sum_i m_i H(\\pi(\\cdot \\mid s_i))}{\\sum_i m_i}

  Args:
    logits_NxA: policy logits.
    actions: int ``[N]`` sampled actions.
    advantages: ``[N]`` values of :math:`r_i - b` (stop-gradiented here).
    mask: ``[N]`` nodes that carry a reward.
    entropy_bonus: :math:`\\beta`.
  """
  logp = jax.nn.log_softmax(logits_NxA, -1)
  logp_a = jnp.take_along_axis(logp, actions[:, None].astype(jnp.int32), -1)[:, 0]
  entropy = -jnp.sum(jnp.exp(logp) * logp, -1)
  denom = jnp.maximum(jnp.sum(mask), 1.0)
  pg = -jnp.sum(mask * jax.lax.stop_gradient(advantages) * logp_a) / denom
  return pg - entropy_bonus * jnp.sum(mask * entropy) / denom


class Agent(nnx.Module):
  """FreeKD's hierarchical agent: a node-level policy choosing one of ``K`` senders from the
  node state ``[N, D]`` (:func:`node_state`), and a structure-level policy (transfer the local
  structure or not) on the ``[N, 3D + 1]`` state of :func:`structure_state`."""

  def __init__(self, node_dim: int, num_networks: int, width: int, rngs: nnx.Rngs):
    self.node = Policy(node_dim, num_networks, width=width, rngs=rngs)
    self.structure = Policy(3 * node_dim + 1, 2, width=width, rngs=rngs)
