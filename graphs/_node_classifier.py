"""Full-batch node-classification training of one GNN (early stopping on validation)."""

from __future__ import annotations

import dataclasses
import functools
import itertools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from fira_jax.lab import seeds
from fira_jax.lab.nnx_train import EarlyStopping, NNXTrainer
from graphs._models import BACKBONES, BackboneConfig, make_gnn
from graphs._planetoid import NodeData

__all__ = [
  "NodeTrainConfig",
  "TrainResult",
  "masked_cross_entropy",
  "masked_accuracy",
  "gnn_optimizer",
  "train_node_classifier",
]


@dataclasses.dataclass(frozen=True)
class NodeTrainConfig:
  """Schedule of a full-batch run (one step per epoch).

  Attributes:
    epochs: maximum number of full-batch steps.
    patience: stop when the validation accuracy has not improved for this many epochs.
  """

  epochs: int = 300
  patience: int = 100

  def __post_init__(self):
    if self.epochs < 1 or self.patience < 1:
      raise ValueError(f"epochs and patience must be >= 1, got {self.epochs}, {self.patience}")


class TrainResult(NamedTuple):
  """Outcome of one run: accuracies of the best-validation epoch, the history, the model.

  ``history`` holds per-epoch arrays ``[T]``: ``train_loss`` (before the update), and
  ``val_loss``, ``val_acc``, ``test_acc`` (after it). ``model`` holds the parameters of the last
  epoch run.
  """

  val_acc: float
  test_acc: float
  best_epoch: int
  history: dict[str, np.ndarray]
  model: nnx.Module


def masked_cross_entropy(logits: jax.Array, labels: jax.Array, mask: jax.Array) -> jax.Array:
  """Mean cross-entropy over the nodes where ``mask`` is 1.

  .. math:: \\mathcal L = -\\frac{1}{\\sum_i m_i} \\sum_i m_i \\log \\mathrm{softmax}(z_i)_{y_i}

  Shapes: ``logits`` ``[N, C]``, ``labels`` ``[N]``, ``mask`` ``[N]``.
  """
  ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
  return jnp.sum(ce * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def masked_accuracy(logits: jax.Array, labels: jax.Array, mask: jax.Array) -> jax.Array:
  """Fraction of masked nodes whose arg-max class is the label."""
  hit = (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
  return jnp.sum(hit * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def _decay_mask(decay_first_layer_only: bool, params):
  """``True`` for the parameters that get weight decay (all, or those under ``conv1``)."""

  def decayed(path, _):
    return not decay_first_layer_only or any(getattr(k, "key", None) == "conv1" for k in path)

  return jax.tree_util.tree_map_with_path(decayed, params)


@functools.cache
def gnn_optimizer(config: BackboneConfig) -> optax.GradientTransformation:
  """Adam with L2 weight decay added to the gradient (coupled, as in the GCN/GAT papers).

  .. math:: u = \\mathrm{Adam}_{\\eta}(g + \\lambda\\, m \\odot \\theta)

  with :math:`m` the decay mask: every parameter, or only those of ``conv1`` when
  ``config.decay_first_layer_only`` (Kipf & Welling). The mask is a function of the parameters,
  so one transform serves every initialisation; the result is cached per ``config`` (one
  compiled step across seeds).

  Args:
    config: learning rate ``lr`` (:math:`\\eta`), ``weight_decay`` (:math:`\\lambda`) and the
      mask choice.
  """
  mask = functools.partial(_decay_mask, config.decay_first_layer_only)
  return optax.chain(optax.add_decayed_weights(config.weight_decay, mask), optax.adam(config.lr))


def _train_loss(model: nnx.Module, data: NodeData, key: jax.Array):
  logits, _ = model(data.graph, key=key, feature_support=data.feature_support)
  return masked_cross_entropy(logits, data.labels, data.train_mask), None


def _evaluate(model: nnx.Module, data: NodeData) -> dict[str, jax.Array]:
  logits, _ = model(data.graph)  # no key: dropout off
  return {
    "val_loss": masked_cross_entropy(logits, data.labels, data.val_mask),
    "val_acc": masked_accuracy(logits, data.labels, data.val_mask),
    "test_acc": masked_accuracy(logits, data.labels, data.test_mask),
  }


def _score(row: dict) -> tuple[float, float]:
  return row["val_acc"], -row["val_loss"]  # best accuracy, ties to the lower loss


def train_node_classifier(
  data: NodeData,
  backbone: str = "gcn",
  *,
  seed: int = 0,
  config: BackboneConfig | None = None,
  train_config: NodeTrainConfig | None = None,
  progress: bool = False,
) -> TrainResult:
  """Trains one two-layer GNN on ``data``'s training mask.

  Each epoch is one full-batch step on the masked cross-entropy (dropout on), then an
  evaluation of the updated model (dropout off). The test accuracy reported is the one at the
  epoch of best validation accuracy (ties go to the lower validation loss); training stops after
  ``patience`` epochs without improvement.

  Args:
    data: a :class:`~graphs.NodeData` (e.g. from :func:`~graphs.load_planetoid`).
    backbone: ``"gcn"``, ``"gat"`` or ``"sage"``.
    seed: seeds the parameters (``nnx.Rngs(seed)``) and the dropout stream.
    config: backbone hyper-parameters (default :data:`~graphs.BACKBONES` ``[backbone]``).
    train_config: epochs and patience.
    progress: show a progress bar.

  Returns:
    A :class:`TrainResult`.
  """
  config = config or BACKBONES.get(backbone)
  train_config = train_config or NodeTrainConfig()
  data = data.with_feature_support()
  model = make_gnn(
    backbone, data.graph.nodes.shape[1], data.num_classes, rngs=nnx.Rngs(seed), config=config
  )
  trainer = NNXTrainer(model, gnn_optimizer(config), _train_loss, eval_fn=_evaluate)
  stopper = EarlyStopping(train_config.patience)
  fit = trainer.fit(
    itertools.repeat(data),
    steps=train_config.epochs,
    key=seeds.key(seed, "graphs.node_classifier.dropout"),
    stopper=stopper,
    score=_score,
    progress=progress,
    desc=f"{backbone} seed {seed}",
  )
  h = fit.history
  best = stopper.best_epoch - 1  # fit counts steps from 1
  return TrainResult(
    val_acc=float(h["val_acc"][best]),
    test_acc=float(h["test_acc"][best]),
    best_epoch=best,
    history={
      "train_loss": h["loss"],
      **{k: h[k] for k in ("val_loss", "val_acc", "test_acc")},
    },
    model=trainer.model,
  )
