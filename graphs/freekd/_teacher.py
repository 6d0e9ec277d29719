"""Classic knowledge distillation from a deeper, stronger teacher GNN into a shallow student.

The baseline FreeKD is compared against: a deep residual GCN (GCNII-style initial residual and
identity mapping, Chen et al., ICML 2020) is trained first and selected on validation accuracy;
its soft labels then teach a two-layer student (Hinton et al., 2015).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import jraph
import numpy as np
import optax
from flax import nnx

from fira_jax.lab import seeds
from fira_jax.lab.nnx_train import EarlyStopping, NNXTrainer
from graphs._layers import dropout, gcn_edge_weights, project, sparse_dropout
from graphs._models import BACKBONES, make_gnn
from graphs._node_classifier import (
  NodeTrainConfig,
  gnn_optimizer,
  masked_accuracy,
  masked_cross_entropy,
)
from graphs._planetoid import NodeData

__all__ = [
  "TeacherConfig",
  "DeepResidualGCN",
  "KDResult",
  "kd_loss",
  "train_teacher",
  "train_student_kd",
]

STUDENT_LAYERS = 2  # the shallow students (GCN, GAT, SAGE of graphs._models) have two layers


@dataclasses.dataclass(frozen=True)
class TeacherConfig:
  """Architecture and optimiser of the deep teacher.

  Attributes:
    layers: number of propagation layers (must exceed the students' two).
    hidden: hidden width.
    dropout: feature dropout rate.
    alpha: initial-residual weight :math:`\\alpha` (share of the first hidden state).
    lam: identity-mapping strength :math:`\\lambda` (:math:`\\beta_l = \\log(\\lambda/l + 1)`).
    lr: Adam learning rate.
    weight_decay: L2 coefficient of the propagation layers (the input and output layers get
      a tenth of it).
  """

  layers: int = 8
  hidden: int = 64
  dropout: float = 0.6
  alpha: float = 0.1
  lam: float = 0.5
  lr: float = 0.01
  weight_decay: float = 5e-4

  def __post_init__(self):
    if self.layers <= STUDENT_LAYERS:
      raise ValueError(
        f"the teacher must be deeper than the {STUDENT_LAYERS}-layer students, got "
        f"layers={self.layers}"
      )
    if self.hidden < 1 or not 0.0 <= self.dropout < 1.0 or not 0.0 <= self.alpha <= 1.0:
      raise ValueError(
        f"need hidden >= 1, dropout in [0, 1), alpha in [0, 1], got {self.hidden}, "
        f"{self.dropout}, {self.alpha}"
      )


class DeepResidualGCN(nnx.Module):
  """Deep GCN with initial residual and identity mapping (GCNII).

  .. math::
    H^{(0)} = \\mathrm{ReLU}(X W_{in}),\\quad
    H^{(l)} = \\mathrm{ReLU}\\big(((1-\\alpha)\\hat A H^{(l-1)} + \\alpha H^{(0)})
      ((1-\\beta_l) I + \\beta_l W_l)\\big),\\quad Z = H^{(L)} W_{out}

  Returns ``(logits [N, C], hidden [N, H])`` like the shallow models.
  """

  def __init__(self, in_features: int, num_classes: int, config: TeacherConfig, *, rngs):
    self.config = config
    self.inp = nnx.Linear(in_features, config.hidden, rngs=rngs)
    self.convs = nnx.List(
      [
        nnx.Linear(config.hidden, config.hidden, use_bias=False, rngs=rngs)
        for _ in range(config.layers)
      ]
    )
    self.out = nnx.Linear(config.hidden, num_classes, rngs=rngs)

  def __call__(
    self,
    graph: jraph.GraphsTuple,
    *,
    key: jax.Array | None = None,
    feature_support: jax.Array | None = None,
  ):
    cfg = self.config
    keys = list(jax.random.split(key, cfg.layers + 2)) if key is not None else [None] * 99
    n = graph.nodes.shape[0]
    norm = gcn_edge_weights(graph, n)
    if feature_support is None:
      x = dropout(graph.nodes, cfg.dropout, keys[0])
    else:  # the same mask, a sparse first layer (see graphs.sparse_dropout)
      x = sparse_dropout(graph.nodes, cfg.dropout, keys[0], feature_support)
    h0 = jax.nn.relu(project(self.inp, x))
    h = h0
    for layer, conv in enumerate(self.convs, start=1):
      h = dropout(h, cfg.dropout, keys[layer])
      prop = jax.ops.segment_sum(h[graph.senders] * norm[:, None], graph.receivers, n)
      support = (1.0 - cfg.alpha) * prop + cfg.alpha * h0
      beta = math.log(cfg.lam / layer + 1.0)
      h = jax.nn.relu((1.0 - beta) * support + beta * conv(support))
    logits = self.out(dropout(h, cfg.dropout, keys[-1]))
    return logits, h


def kd_loss(
  student_logits: jax.Array,
  teacher_logits: jax.Array,
  *,
  temperature: float = 1.0,
  node_mask: jax.Array | None = None,
) -> jax.Array:
  """Hinton's distillation loss, averaged over the masked nodes.

  .. math::
    \\mathcal L_{KD} = \\frac{\\tau^2}{\\sum_i m_i} \\sum_i m_i\\,
      \\mathrm{KL}\\big(\\mathrm{softmax}(t_i/\\tau) \\,\\Vert\\, \\mathrm{softmax}(s_i/\\tau)\\big)

  Args:
    student_logits: ``[N, C]``.
    teacher_logits: ``[N, C]`` (stop-gradiented here).
    temperature: :math:`\\tau > 0`.
    node_mask: ``[N]`` (default: every node).

  Returns:
    A scalar.
  """
  if isinstance(temperature, (int, float)) and temperature <= 0:
    raise ValueError(f"temperature must be > 0, got {temperature}")
  if student_logits.shape != teacher_logits.shape:
    raise ValueError(
      f"student and teacher logits must have one shape, got {student_logits.shape} and "
      f"{teacher_logits.shape}"
    )
  logp_t = jax.lax.stop_gradient(jax.nn.log_softmax(teacher_logits / temperature, -1))
  logp_s = jax.nn.log_softmax(student_logits / temperature, -1)
  kl = jnp.sum(jnp.exp(logp_t) * (logp_t - logp_s), -1)
  m = jnp.ones(kl.shape, kl.dtype) if node_mask is None else node_mask
  return temperature**2 * jnp.sum(kl * m) / jnp.maximum(jnp.sum(m), 1.0)


class KDResult(NamedTuple):
  """Outcome of a teacher or a student run (best-validation epoch).

  Attributes:
    val_acc: best validation accuracy.
    test_acc: test accuracy at that epoch.
    best_epoch: that epoch.
    logits: ``[N, C]`` logits at that epoch (dropout off): the teacher's soft labels.
    layers: number of propagation layers of the network.
  """

  val_acc: float
  test_acc: float
  best_epoch: int
  logits: np.ndarray
  layers: int


@functools.cache
def _teacher_optimizer(config: TeacherConfig) -> optax.GradientTransformation:
  """Adam with coupled L2: ``weight_decay`` on the propagation layers, a tenth elsewhere."""

  def decay(params, in_convs: bool):
    def pick(path, _):
      return any(getattr(k, "key", None) == "convs" for k in path) == in_convs

    return jax.tree_util.tree_map_with_path(pick, params)

  return optax.chain(
    optax.add_decayed_weights(config.weight_decay, functools.partial(decay, in_convs=True)),
    optax.add_decayed_weights(config.weight_decay / 10, functools.partial(decay, in_convs=False)),
    optax.adam(config.lr),
  )


def _supervised_loss(model, batch, key):
  data, _, _, _ = batch
  logits, _ = model(data.graph, key=key, feature_support=data.feature_support)
  return masked_cross_entropy(logits, data.labels, data.train_mask), None


def _student_loss(model, batch, key):
  data, teacher, mu, temperature = batch
  logits, _ = model(data.graph, key=key, feature_support=data.feature_support)
  ce = masked_cross_entropy(logits, data.labels, data.train_mask)
  kd = kd_loss(logits, teacher, temperature=temperature, node_mask=data.real_nodes)
  return ce + mu * kd, None


def _evaluate(model, data: NodeData):
  logits, _ = model(data.graph)
  return {
    "val_acc": masked_accuracy(logits, data.labels, data.val_mask),
    "val_loss": masked_cross_entropy(logits, data.labels, data.val_mask),
    "test_acc": masked_accuracy(logits, data.labels, data.test_mask),
    "logits": logits,
  }


def _fit(model, tx, loss_fn, batch, seed, purpose, train_config, layers) -> KDResult:
  trainer = NNXTrainer(model, tx, loss_fn, eval_fn=_evaluate)
  stop = EarlyStopping(train_config.patience)
  key = seeds.key(seed, purpose)
  for epoch in itertools.count():
    if epoch >= train_config.epochs:
      break
    _, _, m = trainer.step_and_evaluate(batch, jax.random.fold_in(key, epoch), eval_batch=batch[0])
    score = (float(m["val_acc"]), -float(m["val_loss"]))
    stop.update(epoch, score, test=float(m["test_acc"]), logits=m["logits"])
    if stop.should_stop(epoch):
      break
  return KDResult(
    val_acc=stop.best_score[0],
    test_acc=stop.payload["test"],
    best_epoch=stop.best_epoch,
    logits=np.asarray(stop.payload["logits"]),
    layers=layers,
  )


def train_teacher(
  data: NodeData,
  *,
  config: TeacherConfig | None = None,
  train_config: NodeTrainConfig | None = None,
  seed: int = 0,
) -> KDResult:
  """Trains the deep teacher on the training labels; keeps its best-validation epoch.

  Args:
    data: a :class:`~graphs.NodeData`.
    config: a :class:`TeacherConfig`.
    train_config: epochs and patience (on validation accuracy, ties to the lower loss).
    seed: parameters (``nnx.Rngs(seed)``) and the dropout stream.

  Returns:
    A :class:`KDResult` whose ``logits`` are the teacher's soft labels.
  """
  config = config or TeacherConfig()
  train_config = train_config or NodeTrainConfig()
  model = DeepResidualGCN(data.graph.nodes.shape[1], data.num_classes, config, rngs=nnx.Rngs(seed))
  batch = (data.with_feature_support(), None, None, None)
  return _fit(
    model, _teacher_optimizer(config), _supervised_loss, batch, seed,
    "graphs.freekd.teacher.dropout", train_config, config.layers,
  )  # fmt: skip


def train_student_kd(
  data: NodeData,
  teacher_logits: jax.Array | np.ndarray,
  backbone: str = "gcn",
  *,
  mu: float = 1.0,
  temperature: float = 1.0,
  train_config: NodeTrainConfig | None = None,
  seed: int = 0,
) -> KDResult:
  """Trains a two-layer student on :math:`\\mathrm{CE} + \\mu \\mathcal L_{KD}` (:func:`kd_loss`
  over every real node) against fixed teacher logits ``[N, C]``.

  Args:
    data: a :class:`~graphs.NodeData`.
    teacher_logits: the teacher's logits (e.g. ``train_teacher(...).logits``).
    backbone: ``"gcn"``, ``"gat"`` or ``"sage"`` (the student, with its standard settings).
    mu: weight of the distillation term (>= 0).
    temperature: :math:`\\tau`.
    train_config: epochs and patience.
    seed: parameters and dropout stream.

  Returns:
    A :class:`KDResult` of the student.
  """
  if backbone not in BACKBONES:
    raise ValueError(f"backbone must be one of {sorted(BACKBONES)}, got {backbone!r}")
  n, c = data.labels.shape[0], data.num_classes
  teacher = jnp.asarray(teacher_logits, jnp.float32)
  if teacher.shape != (n, c):
    raise ValueError(f"teacher_logits must be [N, C] = [{n}, {c}], got {teacher.shape}")
  if mu < 0 or temperature <= 0:
    raise ValueError(f"need mu >= 0 and temperature > 0, got {mu}, {temperature}")
  train_config = train_config or NodeTrainConfig()
  model = make_gnn(backbone, data.graph.nodes.shape[1], c, rngs=nnx.Rngs(seed))
  # mu and tau are traced arrays: one compiled step across settings.
  batch = (data.with_feature_support(), teacher, jnp.float32(mu), jnp.float32(temperature))
  return _fit(
    model, gnn_optimizer(BACKBONES[backbone]), _student_loss, batch, seed,
    "graphs.freekd.student.dropout", train_config, STUDENT_LAYERS,
  )  # fmt: skip
