"""One REINFORCE step of FreeKD's agent on the rewards measured after the networks' update."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax

from graphs._planetoid import NodeData
from graphs.freekd._agent import neighbourhood_rewards, reinforce_loss
from graphs.freekd._config import FreeKDConfig

__all__ = ["rewards", "agent_optimizer", "agent_loss_fn", "policy_entropy"]


def rewards(dec: dict, pre: dict, post: dict, data: NodeData, cfg: FreeKDConfig):
  """Per-node rewards ``r`` ``[N]`` of the step's actions and the mask ``[N]`` of the nodes that
  have one, from the labelled losses before (``pre``) and after (``post``) the update."""
  a, k_nets = dec["a"], post["losses"].shape[0]
  l_post = post["losses"] * data.train_mask
  l_pre = pre["losses"] * data.train_mask
  local = functools.partial(
    neighbourhood_rewards, train_mask=data.train_mask, graph=data.graph, hops=cfg.reward_hops
  )
  if cfg.reward == "local":
    return local(l_post.sum(0))
  if cfg.reward == "improvement":
    return local((l_post - l_pre).sum(0))
  if cfg.reward == "global":
    r = -l_post.sum() / jnp.maximum(data.train_mask.sum(), 1.0)
    return jnp.full(a.shape, r), jnp.ones(a.shape)
  if cfg.reward == "receiver_only":
    per_sender = [l_post.sum(0) - l_post[t] for t in range(k_nets)]
  else:  # "sender"
    per_sender = [l_post[t] for t in range(k_nets)]
  outs = [local(v) for v in per_sender]
  r_all = jnp.stack([o[0] for o in outs])  # [K, N]
  return jnp.take_along_axis(r_all, a[None], 0)[0], outs[0][1]


@functools.cache
def agent_optimizer(lr: float) -> optax.GradientTransformation:
  """Adam for both policies (cached: one compiled agent step across seeds)."""
  return optax.adam(lr)


@functools.cache
def agent_loss_fn(cfg: FreeKDConfig):
  """``(agent, (dec, pre, post, data, ema), key) -> (loss, aux)``: REINFORCE on both learned
  policies with advantage ``r - baseline`` (the step's mean reward, or the EMA ``ema``, NaN
  before the first step). ``aux``: the mean ``reward`` and the next ``ema``."""

  def loss_fn(agent, batch, key):
    del key  # the actions were sampled in the networks' step
    dec, pre, post, data, ema = batch
    r, m = rewards(dec, pre, post, data, cfg)
    m = m * data.real_nodes
    mean_r = jnp.sum(r * m) / jnp.maximum(m.sum(), 1.0)
    ema = jnp.where(jnp.isnan(ema), mean_r, ema)  # the EMA starts at the first mean
    adv = r - (mean_r if cfg.baseline == "mean" else ema)
    total = 0.0
    if cfg.learns_direction:  # other modes do not sample from the node policy
      logits = agent.node(dec["s1"], data.real_nodes)
      total += reinforce_loss(logits, dec["a"], adv, m, entropy_bonus=cfg.entropy_bonus)
    if cfg.learns_structure:
      logits = agent.structure(dec["s2"], data.real_nodes)
      b = dec["b"].astype(jnp.int32)
      total += reinforce_loss(logits, b, adv, m, entropy_bonus=cfg.entropy_bonus)
    return total, {"reward": mean_r, "ema": 0.9 * ema + 0.1 * mean_r}

  return loss_fn


def policy_entropy(agent, batch) -> jax.Array:
  """Mean entropy of the node policy over the real nodes; ``batch = (s1 [N, D], real [N])``."""
  s1, real = batch
  probs = jax.nn.softmax(agent.node(s1, real), -1)
  entropy_N = -jnp.sum(probs * jnp.log(jnp.maximum(probs, 1e-12)), -1)
  return jnp.sum(entropy_N * real) / jnp.maximum(real.sum(), 1.0)
