"""KPOD's token weighting module: which rationale tokens are keypoints.

Keep probabilities come from the student's (frozen) embedding, one self-attention layer and a
two-layer MLP; a straight-through Gumbel-Softmax sample of them masks the rationale that an
answer predictor reads, one prefix at a time. Training trades the predictor's answer loss
against the fraction of kept tokens, so tokens the answer depends on keep high weights.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx
from jax.typing import ArrayLike

from distill._validation import check_ndim, check_positive
from distill.kpod._answer_predictor import AnswerPredictor
from fira_jax.models.llama import apply_rotary, rotary_tables

Array = jax.Array


class FrozenEmbedding(nnx.Variable):
  """A copy of the student's embedding table; not an ``nnx.Param``, so it is not trained."""


class WeightingBatch(NamedTuple):
  """Inputs of the token weighting module, all padded int32/bool arrays.

  Attributes:
    question: ``(B, Q)`` question ids; ``question_mask`` ``(B, Q)`` marks valid ones.
    rationale: ``(B, R)`` rationale ids; ``rationale_mask`` ``(B, R)`` marks valid ones
      (valid tokens first).
    answer_in: ``(B, A)`` teacher-forced answer inputs (``<sep>``, then the answer shifted).
    answer_out: ``(B, A)`` answer targets (answer tokens then ``<eos>``).
    answer_mask: ``(B, A)`` valid answer targets.
  """

  question: Array
  question_mask: Array
  rationale: Array
  rationale_mask: Array
  answer_in: Array
  answer_out: Array
  answer_mask: Array


class TokenWeighting(nnx.Module):
  r"""Token weighting module of KPOD (mask learning).

  .. math::
    e = \mathrm{Att}(\mathrm{Emb}(r)) + \mathrm{Emb}(r),\qquad
    w_j = \mathrm{sigmoid}(f_w(e_j))

  with ``Emb`` the student's embedding (frozen), one bidirectional self-attention layer over
  the valid rationale tokens (with a residual connection) and ``f_w`` a two-layer MLP.

  The attention carries the token positions the way the student's does: rotary embeddings
  (``positions="rotary"``, LLaMA's; queries and keys rotated by the token index, so scores
  depend on relative offsets). A token's weight can then depend on where it stands, e.g.
  the digits after the last ``=`` (the result the answer repeats) against other digits;
  ``positions="none"`` gives a bag-of-tokens attention in which equal tokens in equal
  contexts always get equal weights.

  Args:
    embedding: the student's embedding table ``(V, D)``.
    num_heads: heads of the self-attention layer (must divide ``D``; ``D / num_heads`` even
      for rotary positions).
    positions: ``"rotary"`` or ``"none"``.
    rope_theta: base of the rotary frequencies.
    mlp_hidden: hidden width of ``f_w``.
    predictor: the answer predictor; default an :class:`AnswerPredictor` of width 64.
    initial_keep: keep probability at initialisation (the bias of the last MLP layer). Starting
      near 1 lets the answer loss protect the keypoints while the mask-ratio loss removes
      filler; starting at 1/2 with a predictor trained from scratch, the straight-through
      answer gradient is too weak and every weight collapses to 0.
    budget: ``None`` (the paper's parameterisation) or a keep rate ``ρ`` in (0, 1): the logits
      are centred over each rationale's valid tokens and shifted to ``logit(ρ)``,
      ``w_j = sigmoid(f_w(e_j) - mean_r f_w(e_r) + logit(ρ))``. Only the tokens' relative
      order is learned, so the answer loss decides which tokens a budget of about ``ρ R``
      keeps. Without it the mask-ratio and answer gradients are the same for every token and
      (normalised by Adam) move all weights together to 0 or to 1, where the sigmoid
      saturates and no token-specific signal is learned.
    rngs: random streams.

  References:
    Feng et al., *Keypoint-based Progressive Chain-of-Thought Distillation for LLMs*,
    ICML 2024 (arXiv:2405.16064), Sec. 3.1.
  """

  def __init__(
    self,
    embedding: ArrayLike,
    *,
    num_heads: int = 2,
    positions: str = "rotary",
    rope_theta: float = 10_000.0,
    mlp_hidden: int = 64,
    predictor: AnswerPredictor | None = None,
    initial_keep: float = 0.9,
    budget: float | None = None,
    rngs: nnx.Rngs,
  ):
    check_ndim("embedding", embedding, 2)
    vocab, dim = jnp.shape(embedding)
    if dim % num_heads:
      raise ValueError(f"num_heads ({num_heads}) must divide the embedding width {dim}")
    if positions not in ("rotary", "none"):
      raise ValueError(f"positions must be 'rotary' or 'none', got {positions!r}")
    if positions == "rotary" and (dim // num_heads) % 2:
      raise ValueError(f"rotary positions need an even head width, got {dim}/{num_heads}")
    self.num_heads, self.positions, self.rope_theta = num_heads, positions, rope_theta
    self.embedding = FrozenEmbedding(jnp.array(embedding, jnp.float32, copy=True))
    self.qkv = nnx.Linear(dim, 3 * dim, use_bias=False, rngs=rngs)
    self.out = nnx.Linear(dim, dim, use_bias=False, rngs=rngs)
    self.fc1 = nnx.Linear(dim, mlp_hidden, rngs=rngs)
    if not 0.0 < initial_keep < 1.0:
      raise ValueError(f"initial_keep must lie in (0, 1), got {initial_keep}")
    bias = float(jnp.log(initial_keep) - jnp.log1p(-initial_keep))
    self.fc2 = nnx.Linear(mlp_hidden, 1, bias_init=nnx.initializers.constant(bias), rngs=rngs)
    self.predictor = AnswerPredictor(vocab, rngs=rngs) if predictor is None else predictor
    if budget is not None and not 0.0 < budget < 1.0:
      raise ValueError(f"budget must lie in (0, 1), got {budget}")
    self.budget = budget

  def keep_logits(self, rationale_BxR: Array, rationale_mask_BxR: Array) -> Array:
    """Logits ``f_w(e)`` ``(B, R)`` of the keep probabilities (``-inf`` at padding); they rank
    tokens even where the sigmoid saturates."""
    emb_BxRxD = jnp.take(self.embedding[...], rationale_BxR, axis=0)
    valid = rationale_mask_BxR.astype(bool)
    b, r, d = emb_BxRxD.shape
    att_mask = (valid[:, None, :, None] & valid[:, None, None, :]) | jnp.eye(r, dtype=bool)
    q, k, val = jnp.split(self.qkv(emb_BxRxD).reshape(b, r, 3 * self.num_heads, -1), 3, axis=2)
    if self.positions == "rotary":
      cos, sin = rotary_tables(r, d // self.num_heads, self.rope_theta)
      q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
    att_BxRxNxH = jax.nn.dot_product_attention(q, k, val, mask=att_mask)
    e_BxRxD = emb_BxRxD + self.out(att_BxRxNxH.reshape(b, r, d))
    logits_BxR = self.fc2(jax.nn.gelu(self.fc1(e_BxRxD)))[..., 0]
    if self.budget is not None:
      mean_B = jnp.sum(jnp.where(valid, logits_BxR, 0.0), -1) / jnp.maximum(valid.sum(-1), 1)
      shift = jnp.log(self.budget) - jnp.log1p(-self.budget)
      logits_BxR = logits_BxR - mean_B[:, None] + shift
    return jnp.where(valid, logits_BxR, -jnp.inf)

  def keep_probabilities(self, rationale_BxR: Array, rationale_mask_BxR: Array) -> Array:
    """Keep probabilities ``w = sigmoid(f_w(e))`` ``(B, R)`` (0 at padding)."""
    return jax.nn.sigmoid(self.keep_logits(rationale_BxR, rationale_mask_BxR))


def gumbel_keep_mask(
  key: jax.Array, keep_prob: ArrayLike, *, temperature: ArrayLike = 1.0
) -> Array:
  r"""Hard keep mask sampled with straight-through Gumbel-Softmax over {keep, drop}.

  .. math::
    s = \mathrm{softmax}\big((\log[w, 1-w] + g) / \tau\big),\ g \sim \mathrm{Gumbel}(0,1),\quad
    m = \mathbb{1}[s_0 > s_1] + s_0 - \mathrm{sg}(s_0)

  The forward value is exactly 0 or 1 (``P(m=1) = w``); the gradient is the soft sample's.
  """
  check_positive("temperature", temperature)
  w = jnp.clip(jnp.asarray(keep_prob), 1e-6, 1.0 - 1e-6)
  logits = jnp.stack([jnp.log(w), jnp.log1p(-w)], axis=-1)
  g = jax.random.gumbel(key, logits.shape)
  soft = jax.nn.softmax((logits + g) / temperature, axis=-1)[..., 0]
  hard = (soft > 0.5).astype(soft.dtype)
  return hard + (soft - jax.lax.stop_gradient(soft))  # exactly `hard` in the forward pass


def token_weighting_loss(
  module: TokenWeighting,
  batch: WeightingBatch,
  key: jax.Array,
  *,
  alpha: ArrayLike = 0.5,
  gumbel_temperature: ArrayLike = 1.0,
  num_prefixes: int = 4,
  predictor_warmup: ArrayLike = False,
  freeze_predictor: ArrayLike = False,
  warmup_full: float = 0.5,
  warmup_keep: float | None = 0.5,
  prefixes: str = "any",
) -> tuple[Array, dict[str, Array]]:
  r"""KPOD mask-learning objective :math:`L_k = L_p + \alpha L_m`.

  .. math::
    L_p = -\frac{1}{R+1}\sum_{k=0}^{R} \sum_j \log P(y_j \mid y_{<j}, r[m]_{<k}, x),\qquad
    L_m = \frac{1}{R}\sum_j m_j

  The paper sums over every prefix length ``k`` and every token; here ``L_p`` is averaged over
  the ``R + 1`` prefix lengths and ``L_m`` over the ``R`` tokens (the same trade-off up to a
  factor ``(R+1)/R``, at a scale independent of ``R``), and the average over prefixes is
  estimated from ``num_prefixes`` prefix lengths drawn uniformly from ``{0, ..., R}`` per
  example. ``α = 0.5`` is the paper's.

  Args:
    module: the :class:`TokenWeighting` module.
    batch: a :class:`WeightingBatch`.
    key: PRNG key for the Gumbel noise and the prefix draws.
    alpha: weight of the mask-ratio loss.
    gumbel_temperature: ``τ`` of the Gumbel-Softmax.
    num_prefixes: prefixes drawn per example.
    predictor_warmup: when true (may be traced), only ``L_p`` is minimised and the predictor
      reads, for a fraction ``warmup_full`` of the examples, the whole unmasked rationale, for
      the others a random prefix under a random mask (each token kept with probability
      ``warmup_keep``). The paper
      starts from a pretrained predictor; one trained from scratch must first learn to read
      the rationale (where the answer often stands only at the end), otherwise ``L_m`` drives
      every weight to 0 before ``L_p`` carries any signal.
    freeze_predictor: when true (may be traced), no gradient reaches the answer predictor: the
      masks are learned against a fixed reader. Trained along with the masks, a predictor
      trained from scratch adapts to ever sparser masks until reading the rationale no longer
      pays (measured in ``benchmarks/results/distill/kpod.md``); a pretrained one, as in the paper,
      need not be frozen.
    warmup_full: fraction of the warm-up examples that show the whole unmasked rationale
      (0.5 by default). Those teach the predictor to read the answer off the final result;
      with 0 it is trained only on what the masks are later scored on, random prefixes
      under random masks, so that keeping a token never hurts it on average.
    warmup_keep: keep probability of the warm-up's random masks; ``None`` draws one rate per
      example uniformly from ``[0, 1]``, so the predictor sees every sparsity the learned
      masks may reach.
    prefixes: ``"any"`` (the paper's: the answer is predicted from prefixes of every length
      ``k``) or ``"whole"`` (``k = R`` only: from the whole masked rationale). A predictor
      trained from scratch cannot finish partial reasoning, so on prefixes it gains nothing
      from intermediate numbers and the masks learn to drop everything; on whole rationales
      whose final result is sometimes masked (``warmup_full < 1``) it learns to use the last
      step's operands, operator and the intermediate results.

  Returns:
    ``(loss, {"answer_loss", "keep_ratio"})`` batch means.
  """
  if num_prefixes < 1:
    raise ValueError(f"num_prefixes must be >= 1, got {num_prefixes}")
  if prefixes not in ("any", "whole"):
    raise ValueError(f"prefixes must be 'any' or 'whole', got {prefixes!r}")
  rmask = batch.rationale_mask.astype(jnp.float32)
  n_tokens = rmask.sum(-1)
  k_mask, k_prefix, k_warm, k_full = jax.random.split(key, 4)
  w = module.keep_probabilities(batch.rationale, batch.rationale_mask)
  m = gumbel_keep_mask(k_mask, w, temperature=gumbel_temperature) * rmask
  u = jax.random.uniform(k_prefix, (num_prefixes, w.shape[0]))
  prefix = jnp.floor(u * (n_tokens + 1)).astype(jnp.int32).reshape(-1)
  if prefixes == "whole":
    prefix = jnp.tile(n_tokens.astype(jnp.int32), num_prefixes)

  def tile(x):
    return jnp.tile(x, (num_prefixes,) + (1,) * (x.ndim - 1))

  warm = jnp.asarray(predictor_warmup, bool)
  rate = (
    jax.random.uniform(jax.random.fold_in(k_warm, 1), (prefix.shape[0], 1))
    if warmup_keep is None
    else warmup_keep
  )
  random_keep = jax.random.uniform(k_warm, (prefix.shape[0], rmask.shape[1])) < rate
  full = warm & jax.random.bernoulli(k_full, warmup_full, prefix.shape)  # the whole rationale
  keep = jnp.where(
    warm, jnp.where(full[:, None], 1.0, random_keep.astype(jnp.float32)) * tile(rmask), tile(m)
  )
  prefix = jnp.where(full, tile(n_tokens).astype(jnp.int32), prefix)

  predictor = module.predictor
  if freeze_predictor is not False:  # no gradient into the predictor (traced flag allowed)
    frozen = jnp.asarray(freeze_predictor, bool)
    graphdef, params, rest = nnx.split(predictor, nnx.Param, ...)
    params = jax.tree.map(lambda p: jnp.where(frozen, jax.lax.stop_gradient(p), p), params)
    predictor = nnx.merge(graphdef, params, rest)
  logits = predictor(
    tile(batch.question),
    tile(batch.question_mask),
    tile(batch.rationale),
    keep,
    prefix,
    tile(batch.answer_in),
  )
  logp = jax.nn.log_softmax(logits)
  nll = -jnp.take_along_axis(logp, tile(batch.answer_out)[..., None], axis=-1)[..., 0]
  answer_loss = jnp.mean(jnp.sum(nll * tile(batch.answer_mask), axis=-1))
  keep_ratio = jnp.mean(m.sum(-1) / jnp.maximum(n_tokens, 1.0))
  loss = answer_loss + jnp.where(warm, 0.0, alpha * keep_ratio)
  return loss, {"answer_loss": answer_loss, "keep_ratio": keep_ratio}


@functools.cache
def _jitted_objective(alpha: float, num_prefixes: int, prefixes: str):
  def objective(module, batch, key):
    return token_weighting_loss(
      module, batch, key, alpha=alpha, num_prefixes=num_prefixes, prefixes=prefixes
    )[0]

  return nnx.jit(objective)


def weighting_objective(
  module: TokenWeighting,
  batch: WeightingBatch,
  key: jax.Array,
  *,
  alpha: float = 0.5,
  prefixes: str = "any",
  num_prefixes: int = 4,
) -> float:
  r"""The mask-learning objective :math:`L_p + \alpha L_m` of :func:`token_weighting_loss`
  (masks sampled from the module's keep probabilities, nothing trained) on ``batch``, e.g.
  held-out rationales: a criterion to pick the module's training step without a test set.

  Pass the same ``key`` at every evaluation so that the Gumbel noise and the prefix draws are
  shared and the values differ only through the module.
  """
  return float(_jitted_objective(float(alpha), num_prefixes, prefixes)(module, batch, key))
