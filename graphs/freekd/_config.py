"""The hyper-parameters of FreeKD, FreeKD-Prompt and FreeKD++."""

from __future__ import annotations

import dataclasses

__all__ = ["FreeKDConfig", "CHOICES"]

# field -> allowed values, for the fields that take one of a few names.
CHOICES: dict[str, tuple[str, ...]] = {
  "direction": ("learned", "random", "fixed", "mutual", "oracle"),
  "structure": ("learned", "all", "none"),
  "reward": ("local", "improvement", "receiver_only", "sender", "global"),
  "baseline": ("mean", "ema"),
  "normalize": ("all", "selected"),
  "unlabeled_loss": ("zero", "pseudo"),
  "similarity": ("rbf", "dot", "cosine"),
}
PROMPTS = ("shared", "nodewise")


@dataclasses.dataclass(frozen=True)
class FreeKDConfig:
  """Hyper-parameters of FreeKD and its variants.

  The defaults settle the details the papers leave open (listed in ``docs/graphs.md``, "Choices
  the papers do not pin down"); every one of them is a switch here.

  Attributes:
    mu: weight of the node-level (soft-label) distillation.
    rho: weight of the structure-level distillation.
    temperature: softmax temperature of the soft labels (loss scaled by ``tau**2``).
    normalize: divide distillation sums by ``N`` (``"all"``) or by the selected nodes.
    similarity: local-structure similarity (``"rbf"``, ``"dot"``, ``"cosine"``).
    direction: ``"learned"`` (the policy), ``"random"`` (uniform), ``"fixed"`` (network 0
      always teaches), ``"mutual"`` (every network teaches every other: deep mutual learning,
      DML) or ``"oracle"`` (on each training node, the network with the lowest loss on the
      node's label before the step teaches; uniform elsewhere: an upper bound of what a
      direction policy can gain from the labels it is allowed to see).
    structure: ``"learned"`` (the policy), ``"all"`` (always transfer) or ``"none"``.
    reward: ``"sender"`` (default: minus the sending network's post-update labelled loss in
      the node's neighbourhood, which rewards picking the network that is right around the
      node; see ``docs/graphs.md``), ``"local"`` (minus the post-update labelled losses of all
      networks in the neighbourhood, the papers' reward as we read it; it gives each node's
      action almost no credit of its own), ``"improvement"`` (pre- minus post-update loss),
      ``"receiver_only"`` or ``"global"`` (one scalar for all nodes).
    reward_hops: neighbourhood of the local rewards (1 or 2).
    baseline: REINFORCE baseline, the step's mean reward (``"mean"``) or an EMA (``"ema"``,
      decay 0.9).
    entropy_bonus: entropy regulariser of both policies.
    agent_lr: Adam learning rate of the policies.
    policy_width: hidden width of the policy MLPs.
    state_use_embeddings: append the networks' hidden embeddings to the node state.
    unlabeled_loss: state loss of unlabelled nodes: 0 (``"zero"``) or the cross-entropy against
      the other networks' arg-max (``"pseudo"``).
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
    for name, allowed in CHOICES.items():
      if getattr(self, name) not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
    if self.prompt not in (None, *PROMPTS):
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

  @property
  def learns_direction(self) -> bool:
    """Whether the node-level policy is sampled and trained."""
    return self.direction == "learned"

  @property
  def learns_structure(self) -> bool:
    """Whether the structure-level policy is sampled and trained."""
    return self.structure == "learned" and self.direction != "mutual"
