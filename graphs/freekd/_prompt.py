"""Learned feature prompts (FreeKD-Prompt): one augmented view per GNN."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

__all__ = ["FeaturePrompt", "diversity_loss"]


class FeaturePrompt(nnx.Module):
  """Additive feature prompt :math:`\\tilde X = X + P` with a per-node norm bound.

  ``kind="shared"`` learns one vector :math:`p \\in \\mathbb R^F` broadcast over nodes
  (GPF-style); ``kind="nodewise"`` computes :math:`P = g(X)` with a two-layer MLP. Each row of
  ``P`` is rescaled to norm at most ``clip``:
  :math:`P_i \\leftarrow P_i \\min(1, c / \\lVert P_i \\rVert)`.
  """

  def __init__(
    self,
    in_features: int,
    *,
    kind: str = "shared",
    clip: float = 0.1,
    hidden: int = 64,
    rngs: nnx.Rngs,
  ):
    if kind not in ("shared", "nodewise"):
      raise ValueError(f"prompt kind must be 'shared' or 'nodewise', got {kind!r}")
    if clip <= 0:
      raise ValueError(f"prompt clip must be > 0, got {clip}")
    self.kind, self.clip = kind, clip
    scale = 0.5 * clip / jnp.sqrt(in_features)
    if kind == "shared":
      self.vector = nnx.Param(scale * jax.random.normal(rngs.params(), (in_features,)))
    else:
      self.l1 = nnx.Linear(in_features, hidden, rngs=rngs)
      self.l2 = nnx.Linear(hidden, in_features, rngs=rngs)

  def delta(self, x: jax.Array) -> jax.Array:
    """The prompt ``P`` ``[N, F]`` (or ``[1, F]`` when shared), norm-bounded."""
    p = self.vector[...][None] if self.kind == "shared" else self.l2(jax.nn.relu(self.l1(x)))
    # A safe norm: rows of zeros (featureless nodes, padding) must not give 0/0 gradients.
    norm = jnp.sqrt(jnp.maximum(jnp.sum(p * p, -1, keepdims=True), 1e-24))
    return p * jnp.minimum(1.0, self.clip / norm)

  def __call__(self, x: jax.Array) -> jax.Array:
    return x + self.delta(x)


def diversity_loss(
  deltas: list[jax.Array], k: int, *, node_mask: jax.Array | None = None
) -> jax.Array:
  """Diversity term of view ``k``: minus its mean squared distance to the other views.

  .. math::
    \\mathcal L_{div,k} = -\\frac{1}{K-1} \\sum_{j \\ne k} \\frac1N \\sum_i
      \\lVert \\tilde X_{k,i} - \\mathrm{sg}(\\tilde X_{j,i}) \\rVert^2

  Since all views share ``X``, the distance is the one between prompts; it is bounded by
  ``2 * clip``. ``node_mask`` ``[N]`` (1 = real node) restricts the mean over nodes of
  node-wise prompts to real nodes; shared prompts (one row) ignore it.
  """
  others = [jax.lax.stop_gradient(d) for j, d in enumerate(deltas) if j != k]

  def mean_rows(sq_N):
    if node_mask is None or sq_N.shape[0] == 1:
      return jnp.mean(sq_N)
    return jnp.sum(sq_N * node_mask) / jnp.maximum(jnp.sum(node_mask), 1.0)

  dists = [mean_rows(jnp.sum((deltas[k] - d) ** 2, -1)) for d in others]
  return -sum(dists) / len(dists)
