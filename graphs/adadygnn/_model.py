"""The Ada-DyGNN network: time-aware attention, central update, and neighbour propagation
gated per neighbour by a Bernoulli policy trained with self-critical REINFORCE.

Node memory ``X`` (``[N + 1, d]``, row 0 = padding) is not a parameter: it is threaded through
the steps and detached between batches. For a batch of ``B`` interactions ``(u, i, t)`` with
the ``k`` most recent neighbours ``j`` of each endpoint and damping
``phi_j = 1 / (1 + gamma (t - t_j) / T)``:

1. attention, per side ``s``: ``n_j = phi_j x_j``, ``a_j = W_g n_j``,
   ``e_j = LeakyReLU_{0.2}(w^T [W_g x_s || a_j])``, ``m_s = sum_j softmax(e)_j a_j``;
   ``h = [tanh([m_u || m_i]) || tanh(W_e f_ui)]``;
2. central update: ``x_u <- tanh(W_c [x_u || h])``, ``x_i <- tanh(W_c [x_i || h])``;
3. propagation, side ``u`` then ``i`` (neighbours re-read after step 2):
   ``h_1 = W_p h``, ``g_j = h_1 * n_j``, ``beta = softmax_j(sum(g_j / ||g_j||))``,
   ``c_j = beta_j h_1``; the policy sees ``S_j = sg([n_j || c_j])`` and gives
   ``pi_j = sigmoid(w_2^T ReLU(W_1 S_j))``; with ``a_j ~ Bernoulli(pi_j)`` (training) or
   ``a_j = [pi_j >= 1/2]`` (evaluation), ``x_j <- a_j tanh(W_n [x_j || c_j]) + (1 - a_j) x_j``;
4. score ``p(u, i) = sigmoid(x_u . x_i)`` with the memory after the batch.

Writes use :func:`~graphs._temporal.last_write_mask` (the last occurrence in a batch wins).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from graphs._temporal import last_write_mask
from graphs.adadygnn._config import AdaDyGNNConfig
from graphs.adadygnn._metrics import stability_reward

__all__ = [
  "AdaDyGNN",
  "Batch",
  "policy_loss",
  "reinforce_side",
  "forward",
  "link_loss",
  "init_memory",
]


class Batch(NamedTuple):
  """One batch of ``B`` interactions with neighbour tables for both endpoints.

  Attributes:
    src, dst, neg: int32 ``[B]`` (``neg``: the negative destination of each positive).
    mask: float32 ``[B]``, 1 on real interactions.
    feat: float32 ``[B, F]`` edge features.
    nbr: int32 ``[2, B, k]`` neighbour ids of ``src`` (0) and ``dst`` (1), 0 on padding.
    phi: float32 ``[2, B, k]`` time damping; nmask: float32 ``[2, B, k]`` real slots.
    noise: float32 ``[2, B, k]`` 1 where the slot's interaction is injected noise.
  """

  src: jnp.ndarray
  dst: jnp.ndarray
  neg: jnp.ndarray
  mask: jnp.ndarray
  feat: jnp.ndarray
  nbr: jnp.ndarray
  phi: jnp.ndarray
  nmask: jnp.ndarray
  noise: jnp.ndarray


class AdaDyGNN(nnx.Module):
  """The parameters: link network (``W_g, w, W_e, W_c, W_p, W_n``) and policy (``W_1, w_2``).

  Args:
    config: the sizes.
    edge_dim: ``F``, edge feature size.
    rngs: parameter initialisation.
  """

  def __init__(self, config: AdaDyGNNConfig, edge_dim: int, *, rngs: nnx.Rngs):
    d, m = config.memory_dim, config.message_dim
    self.w_g = nnx.Linear(d, m, use_bias=False, rngs=rngs)
    self.attn = nnx.Linear(2 * m, 1, use_bias=False, rngs=rngs)
    self.w_e = nnx.Linear(edge_dim, d, use_bias=False, rngs=rngs)
    self.w_central = nnx.Linear(d + 2 * m + d, d, rngs=rngs)
    self.w_prop = nnx.Linear(2 * m + d, d, rngs=rngs)
    self.w_neigh = nnx.Linear(2 * d, d, rngs=rngs)
    self.policy = Policy(2 * d, d, rngs=rngs)


class Policy(nnx.Module):
  """``logit(pi) = w_2^T ReLU(W_1 S)`` (no biases)."""

  def __init__(self, state_dim: int, hidden: int, *, rngs: nnx.Rngs):
    self.w1 = nnx.Linear(state_dim, hidden, use_bias=False, rngs=rngs)
    self.w2 = nnx.Linear(hidden, 1, use_bias=False, rngs=rngs)

  def __call__(self, state: jnp.ndarray) -> jnp.ndarray:
    return self.w2(jax.nn.relu(self.w1(state)))[..., 0]


def init_memory(key: jax.Array, num_rows: int, dim: int) -> jnp.ndarray:
  """Xavier-normal ``[num_rows, dim]`` memory, ``std = sqrt(2 / (num_rows + dim))``."""
  return jax.nn.initializers.glorot_normal()(key, (num_rows, dim), jnp.float32)


def _masked_softmax(logits: jnp.ndarray, mask: jnp.ndarray) -> jnp.ndarray:
  z = jnp.where(mask > 0, logits, -1e30)
  w = jnp.exp(z - jax.lax.stop_gradient(z.max(-1, keepdims=True))) * (mask > 0)
  total = w.sum(-1, keepdims=True)
  return w / jnp.where(total > 0, total, 1.0)  # an all-masked row gives zeros


def _safe_norm(x: jnp.ndarray) -> jnp.ndarray:
  """``||x||`` over the last axis, keepdims, with a zero (not NaN) gradient at ``x = 0``."""
  sq = jnp.sum(x * x, -1, keepdims=True)
  return jnp.where(sq > 0, jnp.sqrt(jnp.where(sq > 0, sq, 1.0)), 0.0)


def _write(memory: jnp.ndarray, ids: jnp.ndarray, values: jnp.ndarray, mask: jnp.ndarray):
  """``memory[ids] = values`` for real entries, the last duplicate winning."""
  keep = last_write_mask(ids, mask)
  return memory.at[jnp.where(keep, ids, memory.shape[0])].set(values, mode="drop")


def policy_loss(
  logits: jnp.ndarray,
  actions: jnp.ndarray,
  advantage: jnp.ndarray,
  valid: jnp.ndarray,
  entropy_weight: float,
  entropy: str = "official",
) -> jnp.ndarray:
  """Self-critical REINFORCE with an entropy bonus, summed over slots and divided by their
  number ``B k``:

  .. math:: L = \\frac{1}{Bk} \\sum_{b,j} v_{bj} \\big[-A \\log P(a_{bj}) - \\lambda H_{bj}\\big]

  with ``log P(a) = a log pi + (1 - a) log(1 - pi)`` (through log-sigmoid of ``logits``),
  ``H = -pi log pi`` (``official``) or ``-pi log pi - (1 - pi) log(1 - pi)`` (``bernoulli``).

  Args:
    logits: ``[B, k]`` policy logits; actions: ``[B, k]`` in ``{0, 1}``; advantage: a scalar
      (treated as a constant); valid: ``[B, k]`` slot weights.
  """
  log_p, log_q = jax.nn.log_sigmoid(logits), jax.nn.log_sigmoid(-logits)
  pi = jax.nn.sigmoid(logits)
  log_prob = actions * log_p + (1.0 - actions) * log_q
  ent = -pi * log_p
  if entropy == "bernoulli":
    ent = ent - (1.0 - pi) * log_q
  adv = jax.lax.stop_gradient(advantage)
  total = jnp.sum(valid * (-adv * log_prob - entropy_weight * ent))
  return total / logits.size


class SideOut(NamedTuple):
  new_rows: jnp.ndarray  # [B, k, d] neighbour rows to write
  loss: jnp.ndarray  # policy loss of this side
  stats: dict


def reinforce_side(
  policy: Policy,
  state: jnp.ndarray,
  old_rows: jnp.ndarray,
  updated_rows: jnp.ndarray,
  centre: jnp.ndarray,
  valid: jnp.ndarray,
  key: jax.Array,
  config: AdaDyGNNConfig,
  train: bool,
) -> SideOut:
  """Chooses which neighbours of one side to update and computes the policy loss.

  Actions: ``learned`` samples ``a ~ Bernoulli(pi)`` in training and takes ``pi >= 1/2`` in
  evaluation; ``all``/``none`` are constant; ``random`` is ``Bernoulli(1/2)``. In training the
  advantage is ``r(sampled) - r(greedy)`` with ``r`` the :func:`stability_reward` of the centres
  against the neighbour rows each action set would write.

  Args:
    policy: the policy network; state: ``[B, k, S]`` (already stop-gradient).
    old_rows, updated_rows: ``[B, k, d]`` a neighbour's row if kept / if updated.
    centre: ``[B, d]`` centre rows after the central update; valid: ``[B, k]``.
  """
  logits = policy(state)
  pi = jax.nn.sigmoid(logits)
  greedy = (pi >= 0.5).astype(jnp.float32)
  if config.policy == "learned":
    act = jax.random.bernoulli(key, pi).astype(jnp.float32) if train else greedy
  elif config.policy == "all":
    act = jnp.ones_like(pi)
  elif config.policy == "none":
    act = jnp.zeros_like(pi)
  else:
    act = jax.random.bernoulli(key, 0.5, pi.shape).astype(jnp.float32)

  def rows(a):
    return a[..., None] * updated_rows + (1.0 - a[..., None]) * old_rows

  new_rows = rows(act)
  sg = jax.lax.stop_gradient
  r_samp = stability_reward(sg(centre), sg(new_rows), config.reward, valid)
  r_greedy = stability_reward(sg(centre), sg(rows(greedy)), config.reward, valid)
  loss = jnp.zeros(())
  if config.policy == "learned" and train:
    loss = policy_loss(logits, act, r_samp - r_greedy, valid, config.entropy_weight, config.entropy)
  n = jnp.maximum(valid.sum(), 1.0)
  ent = -pi * jax.nn.log_sigmoid(logits) - (1 - pi) * jax.nn.log_sigmoid(-logits)
  stats = {
    "reward": r_samp,
    "advantage": r_samp - r_greedy,
    "pi": jnp.sum(valid * pi) / n,
    "update": jnp.sum(valid * act) / n,
    "entropy": jnp.sum(valid * ent) / n,
    "slots": valid.sum(),
  }
  return SideOut(new_rows, loss, {**stats, "actions": act})


def forward(
  model: AdaDyGNN,
  memory: jnp.ndarray,
  batch: Batch,
  key: jax.Array,
  config: AdaDyGNNConfig,
  train: bool,
):
  """One batch: attention, central update, propagation and scores.

  Returns:
    ``(memory, pos_logits [B], neg_logits [B], policy_loss, stats)``; ``stats`` holds per-side
    means and, for the noise analysis, update counts on noise / clean slots.
  """
  memory = jax.lax.stop_gradient(memory)
  k_drop, k_u, k_i = jax.random.split(key, 3)
  sides = (batch.src, batch.dst)
  slot_mask = batch.nmask if config.mask_padding else jnp.ones_like(batch.nmask)
  slot_mask = slot_mask * batch.mask[None, :, None]

  # 1. time-aware attention
  msgs = []
  for s, centre_ids in enumerate(sides):
    n = batch.phi[s][..., None] * memory[batch.nbr[s]]  # [B, k, d]
    a = model.w_g(n)  # [B, k, m]
    c = model.w_g(memory[centre_ids])  # [B, m]
    z = jnp.concatenate([jnp.broadcast_to(c[:, None], a.shape), a], -1)
    if train and config.dropout > 0:
      keep = jax.random.bernoulli(jax.random.fold_in(k_drop, s), 1 - config.dropout, z.shape)
      z = jnp.where(keep, z / (1 - config.dropout), 0.0)
    e = jax.nn.leaky_relu(model.attn(z)[..., 0], 0.2)
    alpha = _masked_softmax(e, slot_mask[s] if config.mask_padding else jnp.ones_like(e))
    msgs.append(jnp.einsum("bk,bkm->bm", alpha, a))
  h = jnp.concatenate([jnp.tanh(jnp.concatenate(msgs, -1)), jnp.tanh(model.w_e(batch.feat))], -1)

  # 2. central update (u rows, then i rows)
  ids = jnp.concatenate(sides)
  new = jnp.tanh(model.w_central(jnp.concatenate([memory[ids], jnp.concatenate([h, h])], -1)))
  memory = _write(memory, ids, new, jnp.concatenate([batch.mask, batch.mask]))
  centres = [memory[centre_ids] for centre_ids in sides]

  # 3. propagation with the policy, side u then side i
  h1 = model.w_prop(h)  # [B, d]
  pol_loss, stats = jnp.zeros(()), {}
  for s, k_side in ((0, k_u), (1, k_i)):
    x = memory[batch.nbr[s]]  # [B, k, d]
    n = batch.phi[s][..., None] * x
    g = h1[:, None] * n
    score = jnp.sum(g / (_safe_norm(g) + 1e-10), -1)
    beta = _masked_softmax(score, slot_mask[s] if config.mask_padding else jnp.ones_like(score))
    cand = beta[..., None] * h1[:, None]  # [B, k, d]
    state = jax.lax.stop_gradient(jnp.concatenate([n, cand], -1))
    updated = jnp.tanh(model.w_neigh(jnp.concatenate([x, cand], -1)))
    out = reinforce_side(
      model.policy, state, x, updated, centres[s], slot_mask[s], k_side, config, train
    )
    flat = batch.nbr[s].reshape(-1)
    memory = _write(memory, flat, out.new_rows.reshape(flat.shape[0], -1), slot_mask[s].ravel())
    if config.policy_sides == "both" or s == 1:
      pol_loss = pol_loss + out.loss
    act = out.stats.pop("actions")
    noise = batch.noise[s] * slot_mask[s]
    clean = (1 - batch.noise[s]) * slot_mask[s]
    out.stats.update(
      noise_updates=jnp.sum(act * noise),
      noise_slots=noise.sum(),
      clean_updates=jnp.sum(act * clean),
      clean_slots=clean.sum(),
    )
    stats.update({f"{name}_{'ui'[s]}": v for name, v in out.stats.items()})

  # 4. scores with the memory after the batch
  pos = jnp.sum(memory[batch.src] * memory[batch.dst], -1)
  neg = jnp.sum(memory[batch.src] * memory[batch.neg], -1)
  return memory, pos, neg, pol_loss, stats


def link_loss(pos: jnp.ndarray, neg: jnp.ndarray, mask: jnp.ndarray) -> jnp.ndarray:
  """``[BCE(p_pos, 1) + BCE(p_neg, 0)] / B``, each BCE a mean over the real rows (the extra
  ``1 / B`` is the official code's; Adam is nearly invariant to it)."""
  n = jnp.maximum(mask.sum(), 1.0)
  bce = -(jax.nn.log_sigmoid(pos) + jax.nn.log_sigmoid(-neg))
  return jnp.sum(mask * bce) / n / n
