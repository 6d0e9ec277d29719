"""The K exchanging networks: their forward pass on random views, labelled losses, evaluation."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import jraph
from flax import nnx

from graphs._node_classifier import masked_accuracy
from graphs._planetoid import NodeData
from graphs.freekd._config import FreeKDConfig
from graphs.freekd._prompt import FeaturePrompt

__all__ = ["Member", "random_view", "forward_all", "labelled_losses", "eval_fn"]


class Member(nnx.Module):
  """One exchanging network: an optional feature prompt followed by a GNN."""

  def __init__(self, gnn: nnx.Module, prompt: FeaturePrompt | None):
    self.gnn, self.prompt = gnn, prompt

  def __call__(
    self, graph: jraph.GraphsTuple, *, key=None, prompted: bool = True, feature_support=None
  ):
    """``(logits [N, C], hidden [N, H])``; ``prompted=False`` skips the prompt;
    ``feature_support``: the nonzero entries of ``graph.nodes`` (unused once prompted)."""
    if self.prompt is not None and prompted:
      graph = graph._replace(nodes=self.prompt(graph.nodes))
      feature_support = None  # the prompted features are dense
    return self.gnn(graph, key=key, feature_support=feature_support)


def random_view(graph: jraph.GraphsTuple, key: jax.Array, cfg: FreeKDConfig):
  """Random FreeKD++ view: feature columns masked and edges dropped (shapes unchanged)."""
  if cfg.feature_mask_rate == 0.0 and cfg.edge_drop_rate == 0.0:
    return graph
  k1, k2 = jax.random.split(key)
  cols = jax.random.bernoulli(k1, 1.0 - cfg.feature_mask_rate, (graph.nodes.shape[1],))
  keep = jax.random.bernoulli(k2, 1.0 - cfg.edge_drop_rate, graph.edges.shape)
  keep = keep | (graph.senders == graph.receivers)
  return graph._replace(nodes=graph.nodes * cols, edges=graph.edges * keep)


def forward_all(
  models, graph, cfg: FreeKDConfig, key=None, prompted: bool = True, feature_support=None
):
  """Logits ``[K, N, C]`` and the list of hidden states; with ``key``: dropout and random views
  on, one subkey per network. ``feature_support``: the nonzero entries of ``graph.nodes`` (a
  view's masked columns only remove some)."""
  keys = [None] * len(models) if key is None else list(jax.random.split(key, len(models)))
  logits, hiddens = [], []
  for model, k in zip(models, keys, strict=True):
    view, k_drop = (
      (graph, None) if k is None else (random_view(graph, k, cfg), jax.random.fold_in(k, 1))
    )
    z, h = model(view, key=k_drop, prompted=prompted, feature_support=feature_support)
    logits.append(z)
    hiddens.append(h)
  return jnp.stack(logits), hiddens


def labelled_losses(logits_KxNxC, labels, train_mask, *, pseudo: bool, real_nodes=None):
  """Per-network per-node cross-entropy ``[K, N]`` on labelled nodes, plus (``pseudo``) the
  cross-entropy against the other networks' mean arg-max on the other real nodes."""
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


def _accuracies(logits_KxNxC, data: NodeData, suffix: str = "") -> dict[str, jax.Array]:
  acc = jax.vmap(masked_accuracy, in_axes=(0, None, None))
  return {
    "val_acc" + suffix: acc(logits_KxNxC, data.labels, data.val_mask),
    "test_acc" + suffix: acc(logits_KxNxC, data.labels, data.test_mask),
  }


@functools.cache
def eval_fn(cfg: FreeKDConfig):
  """``(models, data) -> (cache, metrics)`` with dropout off.

  ``metrics``: ``val_acc``/``test_acc`` ``[K]`` (and ``*_original`` on the unprompted features
  with prompts). ``cache`` (what the agent's states and rewards read): ``probs`` ``[K, N, C]``,
  ``hidden`` (K arrays ``[N, H]``), ``losses`` ``[K, N]`` (:func:`labelled_losses`) and
  ``correct`` ``[K, N]``.
  """

  def evaluate(models, data: NodeData):
    logits, hiddens = forward_all(models, data.graph, cfg)
    metrics = _accuracies(logits, data)
    if cfg.prompt is not None:
      plain, _ = forward_all(models, data.graph, cfg, prompted=False)
      metrics.update(_accuracies(plain, data, "_original"))
    pseudo = cfg.unlabeled_loss == "pseudo"
    cache = {
      "probs": jax.nn.softmax(logits, -1),
      "hidden": hiddens,
      "losses": labelled_losses(
        logits, data.labels, data.train_mask, pseudo=pseudo, real_nodes=data.real_nodes
      ),
      "correct": (logits.argmax(-1) == data.labels[None]).astype(jnp.float32),
    }
    return cache, metrics

  return evaluate
