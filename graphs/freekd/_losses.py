"""Distillation losses between GNNs: soft labels (node level) and local structures."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import jraph

from graphs._layers import segment_log_softmax

__all__ = ["pairwise_node_kl", "local_structure_log_probs", "pairwise_structure_kl"]


def pairwise_node_kl(logits_KxNxC: jax.Array, *, temperature: float = 1.0) -> jax.Array:
  """Per-node KL divergence between the soft labels of every ordered pair of networks.

  .. math::
    D_{i,s,r} = \\tau^2\\, \\mathrm{KL}\\big(\\mathrm{sg}(p^s_i) \\,\\Vert\\, p^r_i\\big),
    \\qquad p^k_i = \\mathrm{softmax}(z^k_i / \\tau)

  The sender ``s`` is stop-gradiented, so a receiver's loss never moves its sender.

  Args:
    logits_KxNxC: logits of the ``K`` networks.
    temperature: :math:`\\tau`; the :math:`\\tau^2` factor keeps gradient scales comparable.

  Returns:
    ``[N, K_sender, K_receiver]`` divergences (zero on the diagonal).
  """
  logp = jax.nn.log_softmax(logits_KxNxC / temperature, -1)
  logp_s = jax.lax.stop_gradient(logp)
  kl = jnp.einsum("snc,snc->sn", jnp.exp(logp_s), logp_s)[:, None, :]  # [S, 1, N]
  kl = kl - jnp.einsum("snc,rnc->srn", jnp.exp(logp_s), logp)
  return temperature**2 * jnp.transpose(kl, (2, 0, 1))


def local_structure_log_probs(
  hidden: jax.Array, graph: jraph.GraphsTuple, *, similarity: str = "rbf"
) -> tuple[jax.Array, jax.Array]:
  """Log of each node's neighbour-similarity distribution (LSP-style local structure).

  .. math::
    q_{ij} = \\frac{\\exp \\mathrm{sim}(h_i, h_j)}
      {\\sum_{j' \\in N(i)} \\exp \\mathrm{sim}(h_i, h_{j'})},
    \\quad \\mathrm{sim}(a, b) = -\\lVert a - b \\rVert^2 \\ (\\text{rbf}),\\ a\\cdot b\\
    (\\text{dot}),\\ \\cos(a, b)\\ (\\text{cosine})

  Edges are the graph's edges with positive weight, self loops excluded; edge ``e`` belongs to
  the structure of its receiver ``i = r_e`` and neighbour ``j = s_e``.

  Args:
    hidden: ``[N, H]`` embeddings.
    graph: the graph.
    similarity: ``"rbf"``, ``"dot"`` or ``"cosine"``.

  Returns:
    ``(log_q [E], edge_mask [E])``; ``log_q`` is 0 where the mask is 0.
  """
  s, r = graph.senders, graph.receivers
  n = hidden.shape[0]
  edge_mask = ((s != r) & (graph.edges > 0)).astype(hidden.dtype)
  if similarity == "rbf":
    sim = -jnp.sum((hidden[r] - hidden[s]) ** 2, -1)
  elif similarity == "dot":
    sim = jnp.sum(hidden[r] * hidden[s], -1)
  elif similarity == "cosine":
    unit = hidden / jnp.maximum(jnp.linalg.norm(hidden, axis=-1, keepdims=True), 1e-12)
    sim = jnp.sum(unit[r] * unit[s], -1)
  else:
    raise ValueError(f"similarity must be 'rbf', 'dot' or 'cosine', got {similarity!r}")
  sim = jnp.where(edge_mask > 0, sim, -1e30)
  log_q = segment_log_softmax(sim, r, n)
  return jnp.where(edge_mask > 0, log_q, 0.0), edge_mask


def pairwise_structure_kl(
  hiddens: Sequence[jax.Array], graph: jraph.GraphsTuple, *, similarity: str = "rbf"
) -> tuple[jax.Array, jax.Array]:
  """Per-node KL between the local structures of every ordered pair of networks.

  .. math::
    S_{i,s,r} = \\sum_{j \\in N(i)} \\mathrm{sg}(q^s_{ij})
      \\big(\\log \\mathrm{sg}(q^s_{ij}) - \\log q^r_{ij}\\big)

  Each network's structure lives on the same edges, so networks of different widths compare.

  Args:
    hiddens: ``K`` embeddings ``[N, H_k]``.
    graph: the graph.
    similarity: see :func:`local_structure_log_probs`.

  Returns:
    ``(kl [N, K_sender, K_receiver], has_neighbours [N])`` where ``has_neighbours`` is 1 for
    nodes with at least one neighbour (others have no structure and must be masked).
  """
  n = hiddens[0].shape[0]
  pairs = [local_structure_log_probs(h, graph, similarity=similarity) for h in hiddens]
  log_q = jnp.stack([lq for lq, _ in pairs])  # [K, E]
  edge_mask = pairs[0][1]
  log_q_s = jax.lax.stop_gradient(log_q)
  per_edge = jnp.exp(log_q_s)[:, None, :] * (log_q_s[:, None, :] - log_q[None, :, :])
  per_edge = per_edge * edge_mask  # [S, R, E]
  kl = jax.ops.segment_sum(jnp.transpose(per_edge, (2, 0, 1)), graph.receivers, n)
  has_neighbours = (jax.ops.segment_sum(edge_mask, graph.receivers, n) > 0).astype(kl.dtype)
  return kl, has_neighbours
