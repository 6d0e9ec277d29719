"""FreeKD, FreeKD-Prompt and FreeKD++: GNNs that teach each other in free directions.

``K >= 2`` shallow GNNs are trained together. A node-level policy picks, for every node, which
network sends its soft label to the others (for ``K = 2``: ``a_i = 0`` means Phi -> Psi); a
structure-level policy decides whether the sender's local structure around that node is
transferred too. Both policies are trained with REINFORCE on rewards measured after the GNN
update. Details that the papers do not pin down are switches of :class:`FreeKDConfig`.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm.auto import tqdm

from graphs._agent import (
  Policy,
  neighbourhood_rewards,
  node_state,
  reinforce_loss,
  structure_state,
)
from graphs._kd import pairwise_node_kl, pairwise_structure_kl
from graphs._models import BACKBONES, make_gnn
from graphs._planetoid import NodeData
from graphs._prompt import FeaturePrompt, diversity_loss
from graphs._train import TrainConfig, make_optimizer, masked_accuracy

__all__ = ["FreeKDConfig", "FreeKDResult", "train_freekd"]

_CHOICES = {
  "direction": ("learned", "random", "fixed", "mutual"),
  "structure": ("learned", "all", "none"),
  "reward": ("local", "improvement", "receiver_only", "sender", "global"),
  "baseline": ("mean", "ema"),
  "normalize": ("all", "selected"),
  "unlabeled_loss": ("zero", "pseudo"),
  "similarity": ("rbf", "dot", "cosine"),
}


@dataclasses.dataclass(frozen=True)
class FreeKDConfig:
  """Hyper-parameters of FreeKD and its variants (defaults follow the spec's [U] choices).

  Attributes:
    mu: weight of the node-level (soft-label) distillation.
    rho: weight of the structure-level distillation.
    temperature: softmax temperature of the soft labels (loss scaled by ``tau**2``).
    normalize: divide distillation sums by ``N`` (``"all"``) or by the selected nodes.
    similarity: local-structure similarity (``"rbf"``, ``"dot"``, ``"cosine"``).
    direction: ``"learned"`` (the policy), ``"random"`` (uniform), ``"fixed"`` (network 0
      always teaches) or ``"mutual"`` (every network teaches every other, DML-style).
    structure: ``"learned"`` (the policy), ``"all"`` (always transfer) or ``"none"``.
    reward: ``"sender"`` (default; minus the sending network's post-update labelled loss in
      the node's neighbourhood: rewards picking the network that is right around the node;
      our choice, see ``docs/graphs.md``), ``"local"`` (the spec's default: minus the
      post-update labelled losses of all networks in the neighbourhood; it gives each node's
      action almost no credit of its own, measured in the controlled test),
      ``"improvement"`` (pre minus post), ``"receiver_only"`` or ``"global"`` (one scalar).
    reward_hops: neighbourhood of the local rewards (1 or 2).
    baseline: REINFORCE baseline, the step's mean reward or an EMA (decay 0.9).
    entropy_bonus: entropy regulariser of both policies.
    agent_lr: Adam learning rate of the policies.
    policy_width: hidden width of the policy MLPs.
    state_use_embeddings: append the networks' hidden embeddings to the node state.
    unlabeled_loss: state loss of unlabelled nodes: 0 or CE against the others' arg-max.
    warmup: epochs of supervised-only training before distillation and agent updates.
    prompt: ``None``, ``"shared"`` or ``"nodewise"`` feature prompts (FreeKD-Prompt).
    prompt_clip: per-node norm bound of a prompt.
    alpha: weight of the undistorted term :math:`\\mathrm{KL}(\\mathrm{sg}(p(f(X))) \\Vert
      p(f(\\tilde X)))`.
    beta: weight of the diversity term between the views.
    feature_mask_rate: FreeKD++ views: fraction of feature columns zeroed per network per step.
    edge_drop_rate: FreeKD++ views: fraction of edges dropped per network per step.
  """

  mu: float = 1.0
  rho: float = 1.0
  temperature: float = 1.0
  normalize: str = "all"
  similarity: str = "rbf"
  direction: str = "learned"
  structure: str = "learned"
  reward: str = "sender"
  reward_hops: int = 1
  baseline: str = "mean"
  entropy_bonus: float = 1e-3
  agent_lr: float = 1e-3
  policy_width: int = 64
  state_use_embeddings: bool = False
  unlabeled_loss: str = "zero"
  warmup: int = 20
  prompt: str | None = None
  prompt_clip: float = 0.1
  alpha: float = 1.0
  beta: float = 1.0
  feature_mask_rate: float = 0.0
  edge_drop_rate: float = 0.0

  def __post_init__(self):
    for name, allowed in _CHOICES.items():
      if getattr(self, name) not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
    if self.prompt not in (None, "shared", "nodewise"):
      raise ValueError(f"prompt must be None, 'shared' or 'nodewise', got {self.prompt!r}")
    if self.temperature <= 0:
      raise ValueError(f"temperature must be > 0, got {self.temperature}")
    if self.reward_hops not in (1, 2):
      raise ValueError(f"reward_hops must be 1 or 2, got {self.reward_hops}")
    for name in ("feature_mask_rate", "edge_drop_rate"):
      if not 0.0 <= getattr(self, name) < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
    if self.warmup < 0:
      raise ValueError(f"warmup must be >= 0, got {self.warmup}")


class FreeKDResult(NamedTuple):
  """Outcome of one FreeKD run (one entry per network, in the order of ``backbones``).

  Attributes:
    test_acc: test accuracy of each network at its best-validation epoch.
    val_acc: that best validation accuracy.
    best_epoch: that epoch.
    test_acc_original: for prompted networks, the same selection evaluated on the original
      features (equal to ``test_acc`` without prompts).
    history: per-epoch arrays: ``val_acc``/``test_acc`` ``[T, K]``, ``share_sender``
      ``[T, K]`` (fraction of nodes whose teacher is network k), ``share_structure``,
      ``reward``, ``policy_entropy``, ``loss`` ``[T, K]``, ``seconds`` (wall time of the
      epoch, the first one includes compilation).
    decisions: snapshots ``{"epoch", "actions" [N], "structure" [N], "correct" [K, N]}`` over
      the real nodes (padding from :func:`~graphs.shard_node_data` left out).
  """

  test_acc: list[float]
  val_acc: list[float]
  best_epoch: list[int]
  test_acc_original: list[float]
  history: dict[str, np.ndarray]
  decisions: list[dict]


class _Member(nnx.Module):
  """One exchanging network: an optional feature prompt followed by a GNN."""

  def __init__(self, gnn: nnx.Module, prompt: FeaturePrompt | None):
    self.gnn, self.prompt = gnn, prompt

  def __call__(self, graph, *, key=None, prompted: bool = True):
    if self.prompt is not None and prompted:
      graph = graph._replace(nodes=self.prompt(graph.nodes))
    return self.gnn(graph, key=key)


class _Agent(nnx.Module):
  def __init__(self, node_dim: int, num_networks: int, width: int, rngs: nnx.Rngs):
    self.node = Policy(node_dim, num_networks, width=width, rngs=rngs)
    self.structure = Policy(3 * node_dim + 1, 2, width=width, rngs=rngs)


def _view(graph, key, cfg: FreeKDConfig):
  """Random FreeKD++ view: feature columns masked and edges dropped (shapes unchanged)."""
  if cfg.feature_mask_rate == 0.0 and cfg.edge_drop_rate == 0.0:
    return graph
  k1, k2 = jax.random.split(key)
  cols = jax.random.bernoulli(k1, 1.0 - cfg.feature_mask_rate, (graph.nodes.shape[1],))
  keep = jax.random.bernoulli(k2, 1.0 - cfg.edge_drop_rate, graph.edges.shape)
  keep = keep | (graph.senders == graph.receivers)
  return graph._replace(nodes=graph.nodes * cols, edges=graph.edges * keep)


def _labelled_losses(logits_KxNxC, labels, train_mask, *, pseudo: bool, real_nodes=None):
  """Per-network per-node CE on labelled nodes (and pseudo-label CE on the other real nodes
  if asked)."""
  logp = jax.nn.log_softmax(logits_KxNxC, -1)
  ce = -jnp.take_along_axis(logp, labels[None, :, None], -1)[..., 0]
  out = ce * train_mask
  if pseudo:
    k = logp.shape[0]
    probs = jnp.exp(logp)
    others = (probs.sum(0, keepdims=True) - probs) / (k - 1)
    pseudo_ce = -jnp.take_along_axis(logp, others.argmax(-1)[..., None], -1)[..., 0]
    unlabelled = 1.0 - train_mask if real_nodes is None else real_nodes * (1.0 - train_mask)
    out = out + pseudo_ce * unlabelled
  return out


@functools.lru_cache(maxsize=16)
def _compiled(graphdefs, agent_def, backbone_cfgs, cfg: FreeKDConfig):
  """Builds the jit-compiled ``gnn_step`` and ``agent_step`` for one set of networks."""
  k_nets = len(graphdefs)
  off_diag = 1.0 - jnp.eye(k_nets)

  def forward_all(params, graph, key=None, prompted=True):
    """Logits ``[K, N, C]`` and hidden states; with ``key``: dropout and random views on."""
    keys = [None] * k_nets if key is None else list(jax.random.split(key, k_nets))
    logits, hiddens = [], []
    for g, p, k in zip(graphdefs, params, keys, strict=True):
      view, k_drop = (
        (graph, None) if k is None else (_view(graph, k, cfg), jax.random.fold_in(k, 1))
      )
      z, h = nnx.merge(g, p)(view, key=k_drop, prompted=prompted)
      logits.append(z)
      hiddens.append(h)
    return jnp.stack(logits), hiddens

  def evaluate(params, data: NodeData):
    logits, hiddens = forward_all(params, data.graph, None)
    metrics = {
      "val_acc": jax.vmap(lambda z: masked_accuracy(z, data.labels, data.val_mask))(logits),
      "test_acc": jax.vmap(lambda z: masked_accuracy(z, data.labels, data.test_mask))(logits),
    }
    if cfg.prompt is not None:
      plain, _ = forward_all(params, data.graph, None, prompted=False)
      metrics["val_acc_original"] = jax.vmap(
        lambda z: masked_accuracy(z, data.labels, data.val_mask)
      )(plain)
      metrics["test_acc_original"] = jax.vmap(
        lambda z: masked_accuracy(z, data.labels, data.test_mask)
      )(plain)
    cache = {
      "probs": jax.nn.softmax(logits, -1),
      "hidden": hiddens,
      "losses": _labelled_losses(
        logits,
        data.labels,
        data.train_mask,
        pseudo=cfg.unlabeled_loss == "pseudo",
        real_nodes=data.real_nodes,
      ),
      "correct": (logits.argmax(-1) == data.labels[None]).astype(jnp.float32),
    }
    return cache, metrics

  def states(cache, data):
    hid = jnp.stack(cache["hidden"]) if cfg.state_use_embeddings else None
    return node_state(
      cache["probs"], cache["losses"], data.train_mask, data.graph, hidden_KxNxH=hid
    )

  def sample_actions(agent_params, cache, data, key):
    agent = nnx.merge(agent_def, agent_params)
    n = data.labels.shape[0]
    s1 = states(cache, data)
    k1, k2 = jax.random.split(key)
    if cfg.direction == "learned":
      a = jax.random.categorical(k1, agent.node(s1, data.real_nodes))
    elif cfg.direction == "random":
      a = jax.random.randint(k1, (n,), 0, k_nets)
    else:
      a = jnp.zeros((n,), jnp.int32)
    s2 = structure_state(s1, a, data.graph)
    if cfg.structure == "learned" and cfg.direction != "mutual":
      b = jax.random.categorical(k2, agent.structure(s2, data.real_nodes)).astype(jnp.float32)
    else:
      b = jnp.full((n,), 0.0 if cfg.structure == "none" else 1.0)
    return s1, s2, a.astype(jnp.int32), b

  def kd_weights(a, b, has_nb):
    if cfg.direction == "mutual":
      w = jnp.broadcast_to(off_diag / (k_nets - 1), (a.shape[0], k_nets, k_nets))
    else:
      w = jax.nn.one_hot(a, k_nets)[:, :, None] * off_diag[None]  # [N, sender, receiver]
    return w, w * (b * has_nb)[:, None, None]

  def loss_fn(params, data, a, b, key, kd_on):
    graph = data.graph
    logits, hiddens = forward_all(params, graph, key)
    ce = _labelled_losses(logits, data.labels, data.train_mask, pseudo=False)
    ce = ce.sum(-1) / jnp.maximum(data.train_mask.sum(), 1.0)  # [K]
    node_kl = pairwise_node_kl(logits, temperature=cfg.temperature)
    struct_kl, has_nb = pairwise_structure_kl(hiddens, graph, similarity=cfg.similarity)
    real = data.real_nodes
    w_node, w_struct = kd_weights(a, b, has_nb)
    w_node, w_struct = w_node * real[:, None, None], w_struct * real[:, None, None]
    n_real = jnp.maximum(real.sum(), 1.0)

    def reduce(w, kl):
      denom = n_real if cfg.normalize == "all" else jnp.maximum(w.sum((0, 1)), 1.0)
      return jnp.sum(w * kl, (0, 1)) / denom  # [receiver]

    l_node, l_struct = reduce(w_node, node_kl), reduce(w_struct, struct_kl)
    per_net = ce + kd_on * (cfg.mu * l_node + cfg.rho * l_struct)
    if cfg.prompt is not None:
      plain, _ = forward_all(params, graph, None, prompted=False)
      p_plain = jax.lax.stop_gradient(jax.nn.log_softmax(plain, -1))
      logp = jax.nn.log_softmax(logits, -1)
      und = jnp.sum(jnp.sum(jnp.exp(p_plain) * (p_plain - logp), -1) * real, -1) / n_real
      deltas = [
        nnx.merge(g, p).prompt.delta(graph.nodes) for g, p in zip(graphdefs, params, strict=True)
      ]
      div = jnp.stack([diversity_loss(deltas, k, node_mask=real) for k in range(k_nets)])
      per_net = per_net + cfg.alpha * und + cfg.beta * div
    aux = {"loss": per_net, "node_kd": l_node, "struct_kd": l_struct}
    return per_net.sum(), aux

  def tx(k, params):
    return make_optimizer(backbone_cfgs[k], params)

  @functools.partial(jax.jit, donate_argnums=(0, 1))
  def gnn_step(params, opt_states, agent_params, cache, key, data, kd_on):
    k_act, k_drop = jax.random.split(key)
    s1, s2, a, b = sample_actions(agent_params, cache, data, k_act)
    (_, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, data, a, b, k_drop, kd_on)
    new_params, new_states = [], []
    for k in range(k_nets):
      updates, st = tx(k, params[k]).update(grads[k], opt_states[k], params[k])
      new_params.append(optax.apply_updates(params[k], updates))
      new_states.append(st)
    new_cache, metrics = evaluate(tuple(new_params), data)
    decisions = {"s1": s1, "s2": s2, "a": a, "b": b}
    return tuple(new_params), tuple(new_states), new_cache, decisions, {**metrics, **aux}

  def rewards(dec, pre, post, data):
    a = dec["a"]
    l_post = post["losses"] * data.train_mask
    l_pre = pre["losses"] * data.train_mask
    hops = cfg.reward_hops
    if cfg.reward == "local":
      return neighbourhood_rewards(l_post.sum(0), data.train_mask, data.graph, hops=hops)
    if cfg.reward == "improvement":
      return neighbourhood_rewards((l_post - l_pre).sum(0), data.train_mask, data.graph, hops=hops)
    if cfg.reward == "global":
      r = -l_post.sum() / jnp.maximum(data.train_mask.sum(), 1.0)
      return jnp.full(a.shape, r), jnp.ones(a.shape)
    if cfg.reward == "receiver_only":
      per_sender = [l_post.sum(0) - l_post[t] for t in range(k_nets)]
    else:  # "sender"
      per_sender = [l_post[t] for t in range(k_nets)]
    outs = [neighbourhood_rewards(v, data.train_mask, data.graph, hops=hops) for v in per_sender]
    r_all = jnp.stack([o[0] for o in outs])  # [K, N]
    r = jnp.take_along_axis(r_all, a[None], 0)[0]
    return r, outs[0][1]

  @functools.partial(jax.jit, donate_argnums=(0, 1))
  def agent_step(agent_params, agent_opt, dec, pre, post, data, ema):
    r, m = rewards(dec, pre, post, data)
    m = m * data.real_nodes
    mean_r = jnp.sum(r * m) / jnp.maximum(m.sum(), 1.0)
    ema = jnp.where(jnp.isnan(ema), mean_r, ema)  # the EMA starts at the first mean
    base = mean_r if cfg.baseline == "mean" else ema
    adv = r - base

    def loss(p):
      agent = nnx.merge(agent_def, p)
      total = 0.0
      if cfg.direction == "learned":  # other modes do not sample from the node policy
        total += reinforce_loss(
          agent.node(dec["s1"], data.real_nodes),
          dec["a"],
          adv,
          m,
          entropy_bonus=cfg.entropy_bonus,
        )
      if cfg.structure == "learned" and cfg.direction != "mutual":
        total += reinforce_loss(
          agent.structure(dec["s2"], data.real_nodes),
          dec["b"].astype(jnp.int32),
          adv,
          m,
          entropy_bonus=cfg.entropy_bonus,
        )
      return total

    grads = jax.grad(loss)(agent_params)
    updates, agent_opt = agent_tx.update(grads, agent_opt, agent_params)
    agent_params = optax.apply_updates(agent_params, updates)
    real = data.real_nodes
    probs = jax.nn.softmax(nnx.merge(agent_def, agent_params).node(dec["s1"], real), -1)
    entropy_N = -jnp.sum(probs * jnp.log(jnp.maximum(probs, 1e-12)), -1)
    entropy = jnp.sum(entropy_N * real) / jnp.maximum(real.sum(), 1.0)
    return (
      agent_params,
      agent_opt,
      0.9 * ema + 0.1 * mean_r,
      {"reward": mean_r, "policy_entropy": entropy},
    )

  agent_tx = optax.adam(cfg.agent_lr)
  return gnn_step, agent_step, evaluate, tx, agent_tx


def train_freekd(
  data: NodeData,
  backbones: Sequence[str] = ("gcn", "gcn"),
  *,
  config: FreeKDConfig | None = None,
  train_config: TrainConfig | None = None,
  seed: int = 0,
  progress: bool = False,
  record_every: int = 0,
  frozen: Sequence[bool] | None = None,
  init_gnns: Sequence[nnx.Module | None] | None = None,
) -> FreeKDResult:
  """Trains ``K = len(backbones)`` GNNs together with FreeKD (K = 2) or FreeKD++ (K > 2).

  Per step (full batch): sample node actions :math:`a \\sim \\pi_n(s)` and structure actions
  :math:`b \\sim \\pi_s(s')` from stop-gradient states; update every network ``k`` on

  .. math::
    \\mathcal L^k = \\mathrm{CE}^k + \\mu \\frac1N \\sum_i [a_i \\ne k]\\,
      \\tau^2 \\mathrm{KL}(\\mathrm{sg}(p^{a_i}_i) \\Vert p^k_i)
      + \\rho \\frac1N \\sum_i [a_i \\ne k] b_i\\,
      \\mathrm{KL}(\\mathrm{sg}(q^{a_i}_i) \\Vert q^k_i)
      \\ (+ \\alpha \\mathcal L_{und,k} + \\beta \\mathcal L_{div,k} \\text{ with prompts})

  then evaluate all networks (dropout off) and update both policies with REINFORCE on the
  post-update rewards. Each network is evaluated alone; its test accuracy is taken at its own
  best-validation epoch.

  Args:
    data: a :class:`~graphs.NodeData`.
    backbones: ``K >= 2`` names among ``"gcn"``, ``"gat"``, ``"sage"`` (mixed sets allowed).
    config: a :class:`FreeKDConfig`.
    train_config: epochs and patience (stops when no network improved for ``patience``).
    seed: seeds parameters, dropout, views and actions.
    progress: show a tqdm bar.
    record_every: store the agent's decisions every this many epochs (0: never).
    frozen: per network, ``True`` to never update it (used for controlled experiments).
    init_gnns: per network, a GNN (e.g. ``TrainResult.model``) to start from instead of a
      fresh initialisation (``None`` entries are initialised from ``seed``).

  Returns:
    A :class:`FreeKDResult`.
  """
  backbones = tuple(backbones)
  config = config or FreeKDConfig()
  train_config = train_config or TrainConfig()
  if len(backbones) < 2:
    raise ValueError(f"FreeKD needs K >= 2 networks, got backbones={list(backbones)}")
  for name in backbones:
    if name not in BACKBONES:
      raise ValueError(f"backbone must be one of {sorted(BACKBONES)}, got {name!r}")
  for arg, value in (("frozen", frozen), ("init_gnns", init_gnns)):
    if value is not None and len(value) != len(backbones):
      raise ValueError(f"{arg} must have one entry per backbone, got {len(value)}")
  k_nets = len(backbones)
  rngs = nnx.Rngs(seed)
  in_features = data.graph.nodes.shape[1]
  init_gnns = init_gnns or [None] * k_nets
  members = [
    _Member(
      gnn if gnn is not None else make_gnn(b, in_features, data.num_classes, rngs=rngs),
      None
      if config.prompt is None
      else FeaturePrompt(in_features, kind=config.prompt, clip=config.prompt_clip, rngs=rngs),
    )
    for b, gnn in zip(backbones, init_gnns, strict=True)
  ]
  split = [nnx.split(m, nnx.Param) for m in members]
  graphdefs = tuple(g for g, _ in split)
  params = tuple(p for _, p in split)
  node_dim = 3 * k_nets + 3
  if config.state_use_embeddings:
    node_dim += sum(int(m(data.graph)[1].shape[1]) for m in members)
  agent_def, agent_params = nnx.split(
    _Agent(node_dim, k_nets, config.policy_width, rngs), nnx.Param
  )
  backbone_cfgs = tuple(BACKBONES[b] for b in backbones)
  if frozen is not None:
    backbone_cfgs = tuple(
      dataclasses.replace(c, lr=0.0, weight_decay=0.0) if f else c
      for c, f in zip(backbone_cfgs, frozen, strict=True)
    )
  gnn_step, agent_step, evaluate, tx, agent_tx = _compiled(
    graphdefs, agent_def, backbone_cfgs, config
  )
  opt_states = tuple(tx(k, params[k]).init(params[k]) for k in range(k_nets))
  agent_opt = agent_tx.init(agent_params)
  cache, _ = jax.jit(evaluate)(params, data)
  learn_node = config.direction == "learned"
  learn_structure = config.structure == "learned" and config.direction != "mutual"
  ema = jnp.full((), jnp.nan)
  key = jax.random.key(seed + 7_919)
  suffixes = ["", "_original"] if config.prompt is not None else [""]
  best = {s: [(-1.0, 0.0, 0)] * k_nets for s in suffixes}  # (val, test, epoch)
  hist: dict[str, list] = {}
  decisions: list[dict] = []
  bar = tqdm(
    range(train_config.epochs),
    disable=not progress,
    desc=f"freekd {'-'.join(backbones)} seed {seed}",
  )
  last_improved = 0
  real = np.asarray(data.real_nodes) > 0  # host copy, for the decision shares
  for epoch in bar:
    tic = time.perf_counter()
    key, k_step = jax.random.split(key)
    kd_on = jnp.float32(epoch >= config.warmup)
    params, opt_states, new_cache, dec, metrics = gnn_step(
      params, opt_states, agent_params, cache, k_step, data, kd_on
    )
    if epoch >= config.warmup and (learn_node or learn_structure):
      agent_params, agent_opt, ema, stats = agent_step(
        agent_params, agent_opt, dec, cache, new_cache, data, ema
      )
    else:
      stats = {"reward": jnp.nan, "policy_entropy": jnp.nan}
    if record_every and epoch % record_every == 0:
      decisions.append(
        {
          "epoch": epoch,
          "actions": np.asarray(dec["a"])[real],
          "structure": np.asarray(dec["b"])[real],
          "correct": np.asarray(cache["correct"])[:, real],
        }
      )
    cache = new_cache
    row = {k: np.asarray(v) for k, v in {**metrics, **stats}.items()}
    a_real = np.asarray(dec["a"])[real]
    row["share_sender"] = np.bincount(a_real, minlength=k_nets) / max(a_real.shape[0], 1)
    row["share_structure"] = np.asarray(dec["b"])[real].mean()
    row["seconds"] = time.perf_counter() - tic
    for k, v in row.items():
      hist.setdefault(k, []).append(v)
    for s in suffixes:
      for k in range(k_nets):
        val, test = float(row["val_acc" + s][k]), float(row["test_acc" + s][k])
        if val > best[s][k][0]:
          best[s][k] = (val, test, epoch)
          last_improved = epoch
    bar.set_postfix(
      val=" ".join(f"{b[0]:.3f}" for b in best[""]),
      sender=" ".join(f"{x:.2f}" for x in row["share_sender"]),
    )
    if epoch - last_improved >= train_config.patience:
      break
  orig = best[suffixes[-1]]
  return FreeKDResult(
    test_acc=[b[1] for b in best[""]],
    val_acc=[b[0] for b in best[""]],
    best_epoch=[b[2] for b in best[""]],
    test_acc_original=[b[1] for b in orig],
    history={k: np.stack(v) for k, v in hist.items()},
    decisions=decisions,
  )
