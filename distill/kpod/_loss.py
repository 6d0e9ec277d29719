"""KPOD's weighted distillation loss over the generated part of the rationale."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from distill._validation import check_ndim, check_where

Array = jax.Array


def weighted_token_loss(
  logits: ArrayLike, targets: ArrayLike, weights: ArrayLike, *, where: ArrayLike | None = None
) -> Array:
  r"""Weighted next-token negative log-likelihood per sequence.

  .. math::
    L_o = -\sum_j [j \in \text{where}]\; w_j \log P(r_j \mid x, r_{<j})

  KPOD uses the raw keep probabilities ``w`` as weights on the rationale tokens the student
  generates (from step ``c_i + 1`` on) and weight 1 on the answer tokens; uniform CoT
  distillation is ``weights = 1``.

  Args:
    logits: ``(B, L, V)`` next-token logits.
    targets: ``(B, L)`` target ids.
    weights: ``(B, L)`` token weights.
    where: ``(B, L)`` boolean mask of the positions that count (default: all).

  Returns:
    ``(B,)`` summed weighted loss.
  """
  check_ndim("logits", logits, 3)
  logits = jnp.asarray(logits)
  check_where("targets", targets, logits.shape[:2])
  check_where("weights", weights, logits.shape[:2])
  check_where("where", where, logits.shape[:2])
  logp = jax.nn.log_softmax(logits)
  nll = -jnp.take_along_axis(logp, jnp.asarray(targets)[..., None], axis=-1)[..., 0]
  w = jnp.asarray(weights, nll.dtype)
  if where is not None:
    w = jnp.where(jnp.asarray(where, bool), w, 0.0)
  return jnp.sum(w * nll, axis=-1)
