"""The FreeKD training loop: K networks and the agent, each on its own :class:`NNXTrainer`."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from fira_jax.lab import seeds
from fira_jax.lab.metrics import progress_bar
from fira_jax.lab.nnx_train import EarlyStopping, NNXTrainer
from graphs._models import BACKBONES, make_gnn
from graphs._node_classifier import NodeTrainConfig, gnn_optimizer
from graphs._planetoid import NodeData
from graphs.freekd._agent import Agent
from graphs.freekd._agent_step import agent_loss_fn, agent_optimizer, policy_entropy
from graphs.freekd._config import FreeKDConfig
from graphs.freekd._forward import Member, eval_fn
from graphs.freekd._prompt import FeaturePrompt
from graphs.freekd._step import gnn_loss_fn

__all__ = ["FreeKDResult", "direction_diagnostics", "train_freekd"]


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
      ``reward``, ``policy_entropy``, ``loss`` ``[T, K]``, ``right_sender_train`` /
      ``right_sender_val`` and ``contested_train`` / ``contested_val`` (see
      :func:`direction_diagnostics`), ``seconds`` (wall time of the epoch, the first one
      includes compilation).
    decisions: snapshots ``{"epoch", "actions" [N], "structure" [N], "correct" [K, N]}`` over
      the real nodes (padding from :func:`~graphs.shard_node_data` left out).
  """

  test_acc: list[float]
  val_acc: list[float]
  best_epoch: list[int]
  test_acc_original: list[float]
  history: dict[str, np.ndarray]
  decisions: list[dict]


def _check(backbones, frozen, init_gnns) -> None:
  if len(backbones) < 2:
    raise ValueError(f"FreeKD needs K >= 2 networks, got backbones={list(backbones)}")
  for name in backbones:
    if name not in BACKBONES:
      raise ValueError(f"backbone must be one of {sorted(BACKBONES)}, got {name!r}")
  for arg, value in (("frozen", frozen), ("init_gnns", init_gnns)):
    if value is not None and len(value) != len(backbones):
      raise ValueError(f"{arg} must have one entry per backbone, got {len(value)}")


def _networks(data, backbones, config, frozen, init_gnns, rngs):
  """The K members (prompt + GNN) and one optimizer each (``lr = 0`` when frozen)."""
  in_features = data.graph.nodes.shape[1]
  members = tuple(
    Member(
      gnn if gnn is not None else make_gnn(b, in_features, data.num_classes, rngs=rngs),
      None
      if config.prompt is None
      else FeaturePrompt(in_features, kind=config.prompt, clip=config.prompt_clip, rngs=rngs),
    )
    for b, gnn in zip(backbones, init_gnns or [None] * len(backbones), strict=True)
  )
  cfgs = [BACKBONES[b] for b in backbones]
  if frozen is not None:
    cfgs = [
      dataclasses.replace(c, lr=0.0, weight_decay=0.0) if f else c
      for c, f in zip(cfgs, frozen, strict=True)
    ]
  return members, tuple(gnn_optimizer(c) for c in cfgs)


def _history_row(metrics, aux, stats, real, k_nets) -> dict:
  """One epoch's host-side record: accuracies, losses, agent statistics, decision shares."""
  dec = aux["decisions"]
  row = {k: np.asarray(v) for k, v in {**metrics, **aux, **stats}.items() if k != "decisions"}
  a_real = np.asarray(dec["a"])[real]
  row["share_sender"] = np.bincount(a_real, minlength=k_nets) / max(a_real.shape[0], 1)
  row["share_structure"] = np.asarray(dec["b"])[real].mean()
  return row


def direction_diagnostics(
  actions: np.ndarray, correct_KxN: np.ndarray, masks: dict[str, np.ndarray]
) -> dict[str, float]:
  """How often the sender is the network that is right on the node.

  Over the nodes of each mask where the networks disagree in correctness (at least one right
  and one wrong, before the step), ``right_sender_<name>`` is the fraction whose sender
  ``a_i`` is right, and ``contested_<name>`` the fraction of the mask's nodes that disagree.
  A uniform choice scores ``1/2`` for two networks; always sending from the right one scores 1.

  Args:
    actions: ``[N]`` senders.
    correct_KxN: ``[K, N]`` 0/1 correctness of each network's arg-max.
    masks: name -> ``[N]`` 0/1 node mask (e.g. ``{"train": ..., "val": ...}``).
  """
  right = np.take_along_axis(correct_KxN, actions[None].astype(int), 0)[0]
  contested = (correct_KxN.max(0) > 0) & (correct_KxN.min(0) < 1)
  out = {}
  for name, mask in masks.items():
    m = contested & (mask > 0)
    out[f"right_sender_{name}"] = float(right[m].mean()) if m.any() else float("nan")
    out[f"contested_{name}"] = float(m.sum() / max((mask > 0).sum(), 1))
  return out


def _update_best(stoppers: dict, row: dict, epoch: int) -> None:
  for suffix, per_net in stoppers.items():
    for k, stop in enumerate(per_net):
      stop.update(epoch, float(row["val_acc" + suffix][k]), test=float(row["test_acc" + suffix][k]))


def train_freekd(
  data: NodeData,
  backbones: Sequence[str] = ("gcn", "gcn"),
  *,
  config: FreeKDConfig | None = None,
  train_config: NodeTrainConfig | None = None,
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
  best-validation epoch, and training stops when no network improved for ``patience`` epochs.

  Args:
    data: a :class:`~graphs.NodeData`.
    backbones: ``K >= 2`` names among ``"gcn"``, ``"gat"``, ``"sage"`` (mixed sets allowed).
    config: a :class:`FreeKDConfig`.
    train_config: epochs and patience (stops when no network improved for ``patience``).
    seed: seeds parameters (``nnx.Rngs(seed)``), and the stream of dropout, views and actions.
    progress: show a progress bar.
    record_every: store the agent's decisions every this many epochs (0: never).
    frozen: per network, ``True`` to never update it (used for controlled experiments).
    init_gnns: per network, a GNN (e.g. ``TrainResult.model``) to start from instead of a
      fresh initialisation (``None`` entries are initialised from ``seed``).

  Returns:
    A :class:`FreeKDResult`.
  """
  backbones = tuple(backbones)
  config = config or FreeKDConfig()
  train_config = train_config or NodeTrainConfig()
  _check(backbones, frozen, init_gnns)
  data = data.with_feature_support()
  k_nets = len(backbones)
  rngs = nnx.Rngs(seed)
  members, txs = _networks(data, backbones, config, frozen, init_gnns, rngs)
  node_dim = 3 * k_nets + 3
  if config.state_use_embeddings:
    node_dim += sum(int(m(data.graph)[1].shape[1]) for m in members)
  agent = Agent(node_dim, k_nets, config.policy_width, rngs)
  agent_def = nnx.graphdef(agent)
  nets = NNXTrainer(members, txs, gnn_loss_fn(config, agent_def), eval_fn=eval_fn(config))
  policy = NNXTrainer(
    agent, agent_optimizer(config.agent_lr), agent_loss_fn(config), eval_fn=policy_entropy
  )
  return _loop(data, nets, policy, config, train_config, seed, record_every, progress, backbones)


def _loop(data, nets, policy, config, train_config, seed, record_every, progress, backbones):
  """Runs the epochs: networks' step + evaluation, agent step, bookkeeping, early stopping."""
  k_nets = len(backbones)
  cache, _ = nets.evaluate(data)
  ema = jnp.full((), jnp.nan)
  key = seeds.key(seed, "graphs.freekd.step")
  stoppers = {s: [EarlyStopping(train_config.patience) for _ in range(k_nets)] for s in ("",)}
  if config.prompt is not None:
    stoppers["_original"] = [EarlyStopping(train_config.patience) for _ in range(k_nets)]
  hist: dict[str, list] = {}
  decisions: list[dict] = []
  real = np.asarray(data.real_nodes) > 0  # host copy, for the decision shares
  train_mask, val_mask = np.asarray(data.train_mask)[real], np.asarray(data.val_mask)[real]
  desc = f"freekd {'-'.join(backbones)} seed {seed}"
  bar = progress_bar(train_config.epochs, desc=desc, disable=not progress, unit="epoch")
  for epoch in range(train_config.epochs):
    tic = time.perf_counter()
    k_step = jax.random.fold_in(key, epoch)
    kd_on = jnp.float32(epoch >= config.warmup)
    batch = (data, policy.state[0], cache, kd_on)
    _, aux, (new_cache, metrics) = nets.step_and_evaluate(batch, k_step, eval_batch=data)
    dec = aux["decisions"]
    if epoch >= config.warmup and (config.learns_direction or config.learns_structure):
      agent_batch = (dec, cache, new_cache, data, ema)
      _, agent_aux, entropy = policy.step_and_evaluate(
        agent_batch, k_step, eval_batch=(dec["s1"], data.real_nodes)
      )
      ema = agent_aux["ema"]
      stats = {"reward": agent_aux["reward"], "policy_entropy": entropy}
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
    row = _history_row(metrics, aux, stats, real, k_nets)
    row.update(
      direction_diagnostics(
        np.asarray(dec["a"])[real],
        np.asarray(cache["correct"])[:, real],
        {"train": train_mask, "val": val_mask},
      )
    )
    cache = new_cache
    row["seconds"] = time.perf_counter() - tic
    for k, v in row.items():
      hist.setdefault(k, []).append(v)
    _update_best(stoppers, row, epoch)
    bar.update(1)
    bar.set_postfix(
      val=" ".join(f"{s.best_score:.3f}" for s in stoppers[""]),
      sender=" ".join(f"{x:.2f}" for x in row["share_sender"]),
    )
    if EarlyStopping.all_stop([s for per in stoppers.values() for s in per], epoch):
      break
  bar.close()
  return _result(stoppers, hist, decisions)


def _result(stoppers, hist, decisions) -> FreeKDResult:
  best, orig = stoppers[""], stoppers.get("_original", stoppers[""])
  return FreeKDResult(
    test_acc=[s.payload["test"] for s in best],
    val_acc=[s.best_score for s in best],
    best_epoch=[s.best_epoch for s in best],
    test_acc_original=[s.payload["test"] for s in orig],
    history={k: np.stack(v) for k, v in hist.items()},
    decisions=decisions,
  )
