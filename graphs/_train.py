"""Full-batch node-classification training of one GNN (early stopping on validation)."""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm.auto import tqdm

from graphs._models import BACKBONES, BackboneConfig, make_gnn
from graphs._planetoid import NodeData

__all__ = [
  "TrainConfig",
  "TrainResult",
  "masked_cross_entropy",
  "masked_accuracy",
  "make_optimizer",
  "train_node_classifier",
]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Schedule of a full-batch run.

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

  ``model`` holds the parameters of the last epoch run.
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


def make_optimizer(config: BackboneConfig, params: nnx.State) -> optax.GradientTransformation:
  """Adam with L2 weight decay added to the gradient (coupled, as in the GCN/GAT papers).

  Args:
    config: learning rate, decay and whether only ``conv1`` is decayed (Kipf & Welling).
    params: the parameter state, used to build the decay mask.
  """

  def decayed(path, _):
    return not config.decay_first_layer_only or any(
      getattr(k, "key", None) == "conv1" for k in path
    )

  mask = jax.tree_util.tree_map_with_path(decayed, params)
  return optax.chain(optax.add_decayed_weights(config.weight_decay, mask), optax.adam(config.lr))


@functools.lru_cache(maxsize=32)
def _compiled_steps(graphdef, config: BackboneConfig):
  """Jit-compiled ``(step, evaluate)`` for one architecture (cached across seeds)."""

  def tx_for(params):
    return make_optimizer(config, params)

  def loss_fn(params, graph, labels, mask, key):
    logits, _ = nnx.merge(graphdef, params)(graph, key=key)
    return masked_cross_entropy(logits, labels, mask)

  def evaluate(params, data: NodeData):
    logits, _ = nnx.merge(graphdef, params)(data.graph)
    return {
      "val_loss": masked_cross_entropy(logits, data.labels, data.val_mask),
      "val_acc": masked_accuracy(logits, data.labels, data.val_mask),
      "test_acc": masked_accuracy(logits, data.labels, data.test_mask),
    }

  @functools.partial(jax.jit, donate_argnums=(0, 1))
  def step(params, opt_state, key, data: NodeData):
    loss, grads = jax.value_and_grad(loss_fn)(params, data.graph, data.labels, data.train_mask, key)
    updates, opt_state = tx_for(params).update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    return params, opt_state, {"train_loss": loss, **evaluate(params, data)}

  return step, tx_for


def train_node_classifier(
  data: NodeData,
  backbone: str = "gcn",
  *,
  seed: int = 0,
  config: BackboneConfig | None = None,
  train_config: TrainConfig | None = None,
  progress: bool = False,
) -> TrainResult:
  """Trains one two-layer GNN on ``data``'s training mask.

  The test accuracy reported is the one at the epoch of best validation accuracy (ties go to
  the lower validation loss); training stops after ``patience`` epochs without improvement.

  Args:
    data: a :class:`~graphs.NodeData` (e.g. from :func:`~graphs.load_planetoid`).
    backbone: ``"gcn"``, ``"gat"`` or ``"sage"``.
    seed: seeds parameters and dropout.
    config: backbone hyper-parameters (default :data:`~graphs.BACKBONES` ``[backbone]``).
    train_config: epochs and patience.
    progress: show a tqdm bar.

  Returns:
    A :class:`TrainResult`.
  """
  config = config or BACKBONES.get(backbone)
  train_config = train_config or TrainConfig()
  model = make_gnn(
    backbone, data.graph.nodes.shape[1], data.num_classes, rngs=nnx.Rngs(seed), config=config
  )
  graphdef, params = nnx.split(model, nnx.Param)
  step, tx_for = _compiled_steps(graphdef, config)
  opt_state = tx_for(params).init(params)
  key = jax.random.key(seed + 1_000_003)
  best = (-1.0, -np.inf, 0.0, 0)  # (val_acc, -val_loss, test_acc, epoch)
  history: dict[str, list[float]] = {}
  bar = tqdm(range(train_config.epochs), disable=not progress, desc=f"{backbone} seed {seed}")
  for epoch in bar:
    key, sub = jax.random.split(key)
    params, opt_state, metrics = step(params, opt_state, sub, data)
    metrics = {k: float(v) for k, v in metrics.items()}
    for k, v in metrics.items():
      history.setdefault(k, []).append(v)
    if (metrics["val_acc"], -metrics["val_loss"]) > best[:2]:
      best = (metrics["val_acc"], -metrics["val_loss"], metrics["test_acc"], epoch)
    bar.set_postfix(loss=f"{metrics['train_loss']:.3f}", val=f"{best[0]:.3f}")
    if epoch - best[3] >= train_config.patience:
      break
  return TrainResult(
    val_acc=best[0],
    test_acc=best[2],
    best_epoch=best[3],
    history={k: np.asarray(v) for k, v in history.items()},
    model=nnx.merge(graphdef, params),
  )
