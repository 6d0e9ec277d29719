"""The answer predictor of KPOD's token weighting module: a small transformer over
``[question | masked rationale | answer]`` whose answer positions see only a rationale prefix.

The paper initialises it from a pretrained seq2seq model; here it is a small model of ours
trained with the weighting module. It reads embeddings, not ids, so the (straight-through)
rationale mask enters differentiably.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

Array = jax.Array


class _Block(nnx.Module):
  """Pre-LayerNorm transformer block with an explicit attention mask."""

  def __init__(self, dim: int, num_heads: int, *, rngs: nnx.Rngs):
    self.norm1 = nnx.LayerNorm(dim, rngs=rngs)
    self.attn = nnx.MultiHeadAttention(num_heads, dim, decode=False, rngs=rngs)
    self.norm2 = nnx.LayerNorm(dim, rngs=rngs)
    self.fc1 = nnx.Linear(dim, 4 * dim, rngs=rngs)
    self.fc2 = nnx.Linear(4 * dim, dim, rngs=rngs)

  def __call__(self, x_BxLxD: Array, mask_Bx1xLxL: Array) -> Array:
    x_BxLxD = x_BxLxD + self.attn(self.norm1(x_BxLxD), mask=mask_Bx1xLxL)
    return x_BxLxD + self.fc2(jax.nn.gelu(self.fc1(self.norm2(x_BxLxD))))


class AnswerPredictor(nnx.Module):
  """Predicts answer tokens from the question and a masked prefix of the rationale.

  Args:
    vocab_size: number of token ids.
    dim: model width.
    num_layers: transformer blocks.
    num_heads: attention heads.
    max_len: longest ``question + rationale + answer`` sequence.
    rngs: random streams.
  """

  def __init__(
    self,
    vocab_size: int,
    *,
    dim: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    max_len: int = 256,
    rngs: nnx.Rngs,
  ):
    self.embed = nnx.Embed(vocab_size, dim, rngs=rngs)
    self.pos = nnx.Embed(max_len, dim, rngs=rngs)
    self.mask_token = nnx.Param(jnp.zeros((dim,)))
    self.blocks = nnx.List([_Block(dim, num_heads, rngs=rngs) for _ in range(num_layers)])
    self.norm = nnx.LayerNorm(dim, rngs=rngs)
    self.head = nnx.Linear(dim, vocab_size, rngs=rngs)
    self.max_len = max_len

  def __call__(
    self,
    question_BxQ: Array,
    question_mask_BxQ: Array,
    rationale_BxR: Array,
    keep_BxR: Array,
    prefix_B: Array,
    answer_in_BxA: Array,
  ) -> Array:
    """Answer logits ``(B, A, V)``.

    Args:
      question_BxQ: question ids (padded), with ``question_mask_BxQ`` marking valid ones.
      rationale_BxR: rationale ids.
      keep_BxR: the mask ``m`` in ``[0, 1]`` (1 keeps a token; 0 replaces its embedding by a
        learned mask vector). Padding must be excluded through ``prefix_B``.
      prefix_B: number ``k`` of leading rationale tokens visible to the answer.
      answer_in_BxA: teacher-forced answer inputs (``<sep>`` then the answer shifted right).
    """
    b, q = question_BxQ.shape
    r, a = rationale_BxR.shape[1], answer_in_BxA.shape[1]
    total = q + r + a
    if total > self.max_len:
      raise ValueError(f"question+rationale+answer length {total} exceeds max_len {self.max_len}")
    keep = keep_BxR[..., None]
    rat = keep * self.embed(rationale_BxR) + (1.0 - keep) * self.mask_token[...]
    x_BxLxD = jnp.concatenate([self.embed(question_BxQ), rat, self.embed(answer_in_BxA)], axis=1)
    x_BxLxD = x_BxLxD + self.pos(jnp.arange(total))[None]
    # Keys each query may see: valid question tokens, rationale tokens before the prefix end,
    # and answer tokens causally.
    idx = jnp.arange(total)
    key_ok_BxL = jnp.concatenate(
      [
        question_mask_BxQ.astype(bool),
        jnp.arange(r)[None, :] < prefix_B[:, None],
        jnp.ones((b, a), bool),
      ],
      axis=1,
    )
    causal_LxL = idx[:, None] >= idx[None, :]
    mask = (causal_LxL[None] & key_ok_BxL[:, None, :])[:, None]
    # A query with no visible key (left padding) attends to itself to stay finite.
    mask = mask | jnp.eye(total, dtype=bool)[None, None]
    for block in self.blocks:
      x_BxLxD = block(x_BxLxD, mask)
    return self.head(self.norm(x_BxLxD[:, q + r :]))
