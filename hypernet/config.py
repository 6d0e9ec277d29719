"""The configuration of a PudNet experiment (meta-training, evaluation and baselines)."""

from __future__ import annotations

import dataclasses
from typing import Literal

__all__ = ["PudNetConfig", "SETTINGS"]

SETTINGS = ("intra", "intra-disjoint", "inter")


@dataclasses.dataclass(frozen=True)
class PudNetConfig:
  """One PudNet experiment: meta-train on sub-datasets of one dataset, evaluate on unseen ones.

  The issue's grid (six columns x 3 meta-training seeds, the baselines, then the dataset-blind
  control and the ablations as time allows) on one GPU, about 4 minutes: the first command packs
  MNIST and a CIFAR-10 subset (the first 2,500 train / 500 test images per class, source JPEGs)
  into ``.device_data`` (37 MiB; nothing to do when it is already there), the second runs the
  grid with ``episode_map=vmap`` (``GRIDS["gpu"]`` in the script), appends each finished run to
  ``$OUT/pudnet_gpu_runs.jsonl`` at once, skips (and records) what no longer fits
  ``--budget-s`` and renders ``$OUT/pudnet.md``::

    python benchmarks/hypernet/make_device_data.py --out .device_data && \\
    PYTHONPATH=. python benchmarks/hypernet/pudnet_compare.py --grid gpu --budget-s 230 \\
      --data-dir .device_data --out-dir "$OUT" --no-progress

  The same driver at a reduced scale on a CPU (six columns, every method, small hypernetwork,
  60 meta-steps, scratch up to 50 epochs; about 2.5 h on 2 cores)::

    PYTHONPATH=. nice python benchmarks/hypernet/pudnet_compare.py --grid cpu \\
      --budget-s 9000 --data-dir .device_data

  One column by the command line (all baselines, 3 seeds; ``--out DIR`` makes meta-training
  resumable: SIGTERM checkpoints the meta-step in flight and exits with status 75)::

    fira-jax hypernet pudnet --data-dir ../shared/data --dataset mnist --setting intra \\
      --meta-steps 2000 --seeds 3 --json runs.jsonl

  Measured on the 2-core CPU (shared, load 6-10): one ``predict`` on Net-B with a 5x10-image
  support set takes 27.5 ms (2.9 s to compile); one meta-training step of Net-B with 8 episodes
  of 20 images takes 4.5 s (57 s to compile), with no host round trip between steps. Smoke
  variant (``PudNetConfig.smoke()``, ``--smoke``; MNIST intra, seed 0, 30 meta-steps, 4
  sub-datasets): PudNet 71.5% vs random 19.5%, scratch@1 36.0%, scratch@5 75.2%, fine-tune@1
  79.3%. The full grid does not fit the shared CPU; see ``docs/hypernet.md``.

  Attributes:
    dataset: meta-training dataset (``mnist`` for Net-A, ``cifar10`` for Net-B).
    setting: ``intra`` (unseen images of the same classes), ``intra-disjoint`` (unseen
      classes: meta-train on classes 0-5, evaluate on 6-9) or ``inter`` (another dataset).
    inter_target: the evaluation dataset of ``inter`` (default: digits for MNIST,
      colored_mnist for CIFAR-10).
    target: the generated ConvNet (``auto``: net_a for MNIST, net_b for CIFAR-10).
    k: classes per sub-dataset (``intra``/``inter``).
    k_disjoint: classes per sub-dataset with ``intra-disjoint``.
    n_support: support ("sketch") images per class.
    n_query: query images per class in a meta-training episode.
    n_train: training images per class of an evaluation sub-dataset (the support set is its
      first n_support).
    n_test: held-out images per class of an evaluation sub-dataset.
    meta_batch: episodes per meta-training step.
    meta_steps: meta-training steps.
    lr: meta-training Adam learning rate.
    b1: meta-training Adam beta1.
    b2: meta-training Adam beta2.
    d: GRU width.
    gru_layers: stacked GRU layers.
    h: channels of the weight-generator heads.
    skt_a: weight of the sketch in the layer codes (0 turns the mix off).
    learn_x1: train the first GRU input instead of a fixed random vector.
    direction: GRU unroll: forward or bidirectional.
    sketch_labels: none (the sketch sees images only) or class_means.
    head: classifier head: proto_cosine, predicted_fc or canonical_fc.
    weight_norm: fanin (scale generated weights by sqrt(gain / fan_in)) or none.
    target_norm: bn_sketch_stats (target batch norm with support-set statistics) or none.
    conditioning: sketch, or blind (a dataset-blind control: a learned constant instead of
      the sketch).
    ahru: the recurrent unit over layers (off: one Dense per layer from the sketch).
    query_includes_sketch: the meta-training query batch also holds the support images.
    episode_map: how a meta-step maps over its episodes: ``unroll`` (one plain graph per
      episode; on XLA:CPU about 10x faster than ``vmap``, whose per-episode kernels become a
      grouped convolution with a slow kernel gradient) or ``vmap`` (one batched graph: faster
      to compile, the better choice on accelerators). ``vmap`` also batches the scratch and
      fine-tuning runs over all evaluation sub-datasets (``unroll``: one after another).
    aux_deep_sup: weight of prototype losses on intermediate features (0 = off).
    aux_sketch_cls: weight of predicting the episode's original classes from the sketch.
    aux_param_reg: weight of the MSE between the generated conv kernels and kernels trained
      on the episode's training images (0 = off; costs aux_param_steps target steps per
      episode).
    aux_param_steps: full-batch Adam steps of those reference kernels.
    num_eval_tasks: evaluation sub-datasets.
    eval_pool_per_class: keep only the first this many images per class of the evaluation
      split (0 = all). Equal pool shapes let evaluations of different datasets share
      compiled programs (digits has 174 images in its smallest class).
    eval_seed: seed of the evaluation sub-datasets (the same for every method and seed).
    scratch_epochs: the longest scratch training, in epochs (1, 5, 20 and this are
      reported, those not above it).
    finetune_epochs: the longest fine-tuning from the prediction (1 and this are reported).
    scratch_lr: Adam learning rate of scratch training and fine-tuning.
    scratch_batch: batch size of scratch training and fine-tuning.
    baselines: also run the random, scratch and fine-tune baselines.
    timing_repeats: repeats of the predict and train timings (the median is reported).
    log_every: meta-training steps between log lines (the only host synchronisations).
    checkpoint_every: meta-training steps between checkpoints (0 = none).
    max_bad_steps: stop meta-training after this many consecutive steps whose meta-loss or
      gradient is not finite (each such step is skipped: the hypernetwork stays unchanged).
    method: the method's name in the results (pudnet, ghn_lite, no_ahru, ...).
  """

  dataset: Literal["mnist", "cifar10"] = "mnist"
  setting: Literal["intra", "intra-disjoint", "inter"] = "intra"
  inter_target: str = "auto"
  target: Literal["auto", "net_a", "net_b", "resnet18"] = "auto"
  k: int = 5
  k_disjoint: int = 4
  n_support: int = 10
  n_query: int = 10
  n_train: int = 100
  n_test: int = 100
  meta_batch: int = 8
  meta_steps: int = 2000
  lr: float = 1e-3
  b1: float = 0.5
  b2: float = 0.999
  d: int = 128
  gru_layers: int = 2
  h: int = 8
  skt_a: float = 0.1
  learn_x1: bool = False
  direction: Literal["forward", "bidirectional"] = "forward"
  sketch_labels: Literal["none", "class_means"] = "none"
  head: Literal["proto_cosine", "predicted_fc", "canonical_fc"] = "proto_cosine"
  weight_norm: Literal["fanin", "none"] = "fanin"
  target_norm: Literal["bn_sketch_stats", "none"] = "bn_sketch_stats"
  conditioning: Literal["sketch", "blind"] = "sketch"
  ahru: bool = True
  query_includes_sketch: bool = False
  episode_map: Literal["unroll", "vmap"] = "unroll"
  aux_deep_sup: float = 0.0
  aux_sketch_cls: float = 0.0
  aux_param_reg: float = 0.0
  aux_param_steps: int = 20
  num_eval_tasks: int = 200
  eval_pool_per_class: int = 0
  eval_seed: int = 0
  scratch_epochs: int = 50
  finetune_epochs: int = 5
  scratch_lr: float = 1e-3
  scratch_batch: int = 64
  baselines: bool = True
  timing_repeats: int = 10
  log_every: int = 100
  checkpoint_every: int = 500
  max_bad_steps: int = 10
  method: str = "pudnet"

  def __post_init__(self):
    if self.setting not in SETTINGS:
      raise ValueError(f"setting must be one of {SETTINGS}, got {self.setting!r}")
    if self.dataset not in ("mnist", "cifar10"):
      raise ValueError(f"unknown dataset {self.dataset!r}; choose mnist or cifar10")
    if self.head == "predicted_fc" and self.sketch_labels != "class_means":
      raise ValueError("head=predicted_fc needs sketch_labels=class_means (labels are permuted)")
    for name in ("k", "k_disjoint"):
      if getattr(self, name) < 2:
        raise ValueError(f"{name} must be >= 2, got {getattr(self, name)}")
    for name in (
      "n_support",
      "n_query",
      "n_test",
      "meta_batch",
      "num_eval_tasks",
      "timing_repeats",
      "max_bad_steps",
    ):
      if getattr(self, name) < 1:
        raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
    if self.n_train < self.n_support:
      raise ValueError(f"n_train ({self.n_train}) must be >= n_support ({self.n_support})")
    if self.finetune_epochs < 1 or self.scratch_epochs < 1:
      raise ValueError("scratch_epochs and finetune_epochs must be >= 1")

  @classmethod
  def smoke(cls, **overrides) -> PudNetConfig:
    """A CPU-minute variant: small hypernetwork, 30 meta-steps, 4 evaluation sub-datasets."""
    small = dict(
      d=32,
      h=4,
      meta_steps=30,
      meta_batch=4,
      n_train=40,
      n_test=20,
      num_eval_tasks=4,
      scratch_epochs=5,
      finetune_epochs=2,
      timing_repeats=2,
      log_every=10,
    )
    return cls(**{**small, **overrides})

  @property
  def target_name(self) -> str:
    if self.target != "auto":
      return self.target
    return "net_a" if self.dataset == "mnist" else "net_b"

  @property
  def eval_dataset(self) -> str:
    if self.setting != "inter":
      return self.dataset
    if self.inter_target != "auto":
      return self.inter_target
    return "digits" if self.dataset == "mnist" else "colored_mnist"

  @property
  def way(self) -> int:
    return self.k_disjoint if self.setting == "intra-disjoint" else self.k
