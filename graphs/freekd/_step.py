"""One FreeKD step of the K networks: sample the agent's actions, then distil along them.

:func:`gnn_loss_fn` builds the loss that :class:`~fira_jax.lab.NNXTrainer` differentiates with
respect to the tuple of networks; the trainer applies one optimizer per network and evaluates
the updated networks in the same compiled call (:func:`graphs.freekd._forward.eval_fn`).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import nnx

from graphs._planetoid import NodeData
from graphs.freekd._agent import node_state, structure_state
from graphs.freekd._config import FreeKDConfig
from graphs.freekd._forward import forward_all, labelled_losses
from graphs.freekd._losses import pairwise_node_kl, pairwise_structure_kl
from graphs.freekd._prompt import diversity_loss

__all__ = ["states", "sample_actions", "kd_weights", "gnn_loss_fn"]


def states(cache: dict, data: NodeData, cfg: FreeKDConfig) -> jax.Array:
  """The node-level state ``[N, D]`` from an evaluation ``cache``."""
  hid = jnp.stack(cache["hidden"]) if cfg.state_use_embeddings else None
  return node_state(cache["probs"], cache["losses"], data.train_mask, data.graph, hidden_KxNxH=hid)


def sample_actions(agent, cache: dict, data: NodeData, key: jax.Array, cfg: FreeKDConfig):
  """Node actions ``a`` ``[N]`` (the sender) and structure actions ``b`` ``[N]`` (0/1) with
  their states: learned (sampled from the policies), uniform, fixed or all/none per ``cfg``."""
  k_nets = cache["probs"].shape[0]
  n = data.labels.shape[0]
  s1 = states(cache, data, cfg)
  k1, k2 = jax.random.split(key)
  if cfg.learns_direction:
    a = jax.random.categorical(k1, agent.node(s1, data.real_nodes))
  elif cfg.direction in ("random", "oracle"):
    a = jax.random.randint(k1, (n,), 0, k_nets)
    if cfg.direction == "oracle":  # labels of training nodes only
      a = jnp.where(data.train_mask > 0, jnp.argmin(cache["losses"], 0), a)
  else:
    a = jnp.zeros((n,), jnp.int32)
  s2 = structure_state(s1, a, data.graph)
  if cfg.learns_structure:
    b = jax.random.categorical(k2, agent.structure(s2, data.real_nodes)).astype(jnp.float32)
  else:
    b = jnp.full((n,), 0.0 if cfg.structure == "none" else 1.0)
  return {"s1": s1, "s2": s2, "a": a.astype(jnp.int32), "b": b}


def kd_weights(a: jax.Array, b: jax.Array, has_nb: jax.Array, k_nets: int, cfg: FreeKDConfig):
  """Per-node ``[N, sender, receiver]`` weights of the node- and structure-level KL terms."""
  off_diag = 1.0 - jnp.eye(k_nets)
  if cfg.direction == "mutual":
    w = jnp.broadcast_to(off_diag / (k_nets - 1), (a.shape[0], k_nets, k_nets))
  else:
    w = jax.nn.one_hot(a, k_nets)[:, :, None] * off_diag[None]
  return w, w * (b * has_nb)[:, None, None]


def _prompt_terms(models, data: NodeData, logits, n_real, cfg: FreeKDConfig) -> jax.Array:
  """``alpha * undistorted + beta * diversity`` per network ``[K]`` (FreeKD-Prompt)."""
  real = data.real_nodes
  plain, _ = forward_all(models, data.graph, cfg, prompted=False)
  p_plain = jax.lax.stop_gradient(jax.nn.log_softmax(plain, -1))
  logp = jax.nn.log_softmax(logits, -1)
  und = jnp.sum(jnp.sum(jnp.exp(p_plain) * (p_plain - logp), -1) * real, -1) / n_real
  deltas = [m.prompt.delta(data.graph.nodes) for m in models]
  div = jnp.stack([diversity_loss(deltas, k, node_mask=real) for k in range(len(models))])
  return cfg.alpha * und + cfg.beta * div


def _transfers_structure(cfg: FreeKDConfig) -> bool:
  """Whether the structure-level term can be nonzero (``rho != 0`` and some ``b_i`` may be 1)."""
  return cfg.rho != 0.0 and cfg.structure != "none"


@functools.cache
def gnn_loss_fn(cfg: FreeKDConfig, agent_def: nnx.GraphDef):
  """``(models, (data, agent_state, cache, kd_on), key) -> (sum_k L^k, aux)``.

  Samples the actions from the agent (``agent_def`` merged with ``agent_state``; no gradient
  flows to it) on the pre-update ``cache``, then the per-network loss ``L^k`` of
  :func:`graphs.train_freekd`; ``kd_on`` (0 or 1) switches distillation off during warm-up.
  ``aux``: ``loss``, ``node_kd``, ``struct_kd`` ``[K]`` and the step's ``decisions``.
  """

  def loss_fn(models, batch, key):
    data, agent_state, cache, kd_on = batch
    k_nets = len(models)
    k_act, k_drop = jax.random.split(key)
    decisions = sample_actions(nnx.merge(agent_def, agent_state), cache, data, k_act, cfg)
    logits, hiddens = forward_all(
      models, data.graph, cfg, k_drop, feature_support=data.feature_support
    )
    ce = labelled_losses(logits, data.labels, data.train_mask, pseudo=False)
    ce = ce.sum(-1) / jnp.maximum(data.train_mask.sum(), 1.0)  # [K]
    node_kl = pairwise_node_kl(logits, temperature=cfg.temperature)
    if _transfers_structure(cfg):
      struct_kl, has_nb = pairwise_structure_kl(hiddens, data.graph, similarity=cfg.similarity)
    else:  # rho = 0 or no structure action: the term is zero, skip its cost
      n = data.labels.shape[0]
      struct_kl, has_nb = jnp.zeros((n, k_nets, k_nets)), jnp.ones((n,))
    real = data.real_nodes[:, None, None]
    w_node, w_struct = kd_weights(decisions["a"], decisions["b"], has_nb, k_nets, cfg)
    w_node, w_struct = w_node * real, w_struct * real
    n_real = jnp.maximum(data.real_nodes.sum(), 1.0)

    def reduce(w, kl):
      denom = n_real if cfg.normalize == "all" else jnp.maximum(w.sum((0, 1)), 1.0)
      return jnp.sum(w * kl, (0, 1)) / denom  # [receiver]

    l_node, l_struct = reduce(w_node, node_kl), reduce(w_struct, struct_kl)
    per_net = ce + kd_on * (cfg.mu * l_node + cfg.rho * l_struct)
    if cfg.prompt is not None:
      per_net = per_net + _prompt_terms(models, data, logits, n_real, cfg)
    aux = {"loss": per_net, "node_kd": l_node, "struct_kd": l_struct, "decisions": decisions}
    return per_net.sum(), aux

  return loss_fn
