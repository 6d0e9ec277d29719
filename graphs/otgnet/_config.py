"""Hyper-parameters of OTGNet and of the baselines that share its code path."""

from __future__ import annotations

import dataclasses

__all__ = ["OTGNetConfig", "METHODS", "method_config"]


@dataclasses.dataclass(frozen=True)
class OTGNetConfig:
  """OTGNet hyper-parameters (defaults: the official code's, scaled for CPU where noted).

  Attributes:
    memory_dim: node memory size d.
    time_dim: time-encoding size d_t.
    num_neighbors: temporal neighbours k per node.
    hidden_dim: classifier hidden size.
    dropout: dropout rate of the attention scores and the classifier.
    batch_size: new edges per batch.
    lr: Adam learning rate of the main parameters.
    lr_halve_every: halve the learning rate every this many epochs of a task (0: never).
    patience: early-stopping patience in epochs (validation accuracy).
    mask_padding: mask padded neighbour slots in the attention softmax.
    update: memory update, "pair" ([M_u || m_u, m_i, e]) or "self" ([M_u || m_u]).
    use_ib: class-agnostic replacement of cross-class neighbours (information bottleneck).
    ib_on_message: also replace the messages of cross-class edges.
    ib_lr: Adam learning rate of the IB mapping, CLUB and MINE.
    ib_beta: weight beta of the MINE term in I_CLUB(z; y) - beta I_MINE(x; z).
    ib_warm_epochs: CLUB and MINE are trained in the first this many epochs of a task.
    ib_store: at most this many (x, y) pairs per batch feed the IB update.
    ib_max_objective: skip the IB step when abs(objective) exceeds this.
    pseudo_label_neighbors: neighbours of the kNN pseudo-label vote at test.
    class_balance: weight each class's CE by (n_new - n_c) / n_new.
    replay: replay selected triads' edges (with a memory snapshot) after the first task.
    triads: triad candidate selection, "greedy" (importance + diversity) or "random".
    importance: node importance, "grad_dot" (gradient dot-product), "lissa" (influence with a
      LiSSA inverse-Hessian-vector estimate) or "random".
    lissa_batch: nodes per Hessian-vector product of the LiSSA recursion.
    lissa_scale: LiSSA scale (the Hessian is divided by it).
    lissa_damping: LiSSA damping.
    triad_window: neighbour window of the triad candidates.
    triads_per_class: selected closed (and open) triads per class (mem_size).
    triad_top: keep this many most important candidates before the greedy step (sk).
    gamma: diversity weight of the greedy step (0: importance only).
    radius_per_call: recompute the coverage radius per call (else the first call's is reused).
    pattern_rho: weight rho of the pattern loss.
    pattern_norm: "mean" or "official" (the official extra division by the pattern count).
    replay_ratio: weight of the replay edges' CE (the new edges get 1 - ratio).
    eval_memory: evaluate task k with the memory of task k's best epoch ("own_task") or the
      memory after the last task ("current").
    er_replay: replay uniformly drawn past train edges (experience replay) instead of triads.
    ewc_lambda: EWC penalty weight (0: off), diagonal Fisher after each task.
    lwf_weight: LwF distillation weight on the old heads (0: off).
    lwf_temperature: LwF temperature T (the KD loss is scaled by T^2).
    joint: train on the union of all seen tasks' train edges (upper bound).
    official_eval: score nodes the way the official code does: in each batch every source
      appearance is recorded before every destination appearance, the predictions of the
      scored rows are keyed by the first node ids of the unmasked batch (misaligned), and
      accuracy compares every key of the task's classes with the prediction under it.
  """

  memory_dim: int = 100
  time_dim: int = 5
  num_neighbors: int = 5
  hidden_dim: int = 128
  dropout: float = 0.5
  batch_size: int = 300
  lr: float = 5e-3
  lr_halve_every: int = 99
  patience: int = 100
  mask_padding: bool = True
  update: str = "pair"
  use_ib: bool = True
  ib_on_message: bool = True
  ib_lr: float = 5e-3
  ib_beta: float = 0.3
  ib_warm_epochs: int = 10
  ib_store: int = 1000
  ib_max_objective: float = 1000.0
  pseudo_label_neighbors: int = 50
  class_balance: bool = True
  replay: bool = True
  triads: str = "greedy"
  importance: str = "grad_dot"
  lissa_batch: int = 100
  lissa_scale: float = 1e9
  lissa_damping: float = 0.0
  triad_window: int = 20
  triads_per_class: int = 10
  triad_top: int = 1000
  gamma: float = 20.0
  radius_per_call: bool = False
  pattern_rho: float = 0.5
  pattern_norm: str = "mean"
  replay_ratio: float = 0.5
  eval_memory: str = "own_task"
  er_replay: bool = False
  ewc_lambda: float = 0.0
  lwf_weight: float = 0.0
  lwf_temperature: float = 2.0
  joint: bool = False
  official_eval: bool = False

  def __post_init__(self):
    choices = {
      "update": ("pair", "self"),
      "triads": ("greedy", "random"),
      "importance": ("grad_dot", "lissa", "random"),
      "pattern_norm": ("mean", "official"),
      "eval_memory": ("own_task", "current"),
    }
    for name, allowed in choices.items():
      if getattr(self, name) not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
    if self.lissa_batch < 1 or self.lissa_scale <= 0:
      raise ValueError("lissa_batch must be >= 1 and lissa_scale > 0")
    if self.batch_size < 1 or self.num_neighbors < 1 or self.memory_dim < 1:
      raise ValueError("batch_size, num_neighbors and memory_dim must be >= 1")
    if not 0.0 <= self.dropout < 1.0:
      raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


_NO_REPLAY = {"replay": False, "pattern_rho": 0.0}
# method -> OTGNetConfig fields it changes (spec section 9)
METHODS: dict[str, dict] = {
  "otgnet": {},
  "finetune": {"use_ib": False, **_NO_REPLAY},
  "joint": {"use_ib": False, "joint": True, **_NO_REPLAY},
  "er": {"use_ib": False, "er_replay": True, "pattern_rho": 0.0},
  "ewc": {"use_ib": False, "ewc_lambda": 1e3, **_NO_REPLAY},
  "lwf": {"use_ib": False, "lwf_weight": 1.0, **_NO_REPLAY},
  "no_ib": {"use_ib": False},
  "no_triad": _NO_REPLAY,
  "random_triads": {"triads": "random", "importance": "random"},
  "importance_only": {"gamma": 0.0},
  "no_pattern_loss": {"pattern_rho": 0.0},
}


def method_config(method: str, base: OTGNetConfig | None = None) -> OTGNetConfig:
  """``base`` (default :class:`OTGNetConfig`) with the changes of ``method`` applied."""
  if method not in METHODS:
    raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
  return dataclasses.replace(base or OTGNetConfig(), **METHODS[method])
