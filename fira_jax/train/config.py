"""The typed configuration of a pre-training run (the CLI's flags map onto it one to one)."""

from __future__ import annotations

import dataclasses
import math
import numbers

from fira_jax.models.configs import CONFIGS, PAPER_RANKS
from fira_jax.train.optimizers import OPTIMIZERS, PROJECTORS


def _check_int(name: str, value, low: int) -> None:
  if isinstance(value, bool) or not isinstance(value, int) or value < low:
    kind = "a positive int" if low == 1 else f"an int >= {low}"
    raise ValueError(f"--{name.replace('_', '-')} must be {kind}, got {value!r}")


def _check_float(name, value, low, high, *, low_open=False, high_open=False, flag=None) -> None:
  """Raises ValueError unless ``value`` is a finite real number in the given interval."""
  label = f"--{flag} {name}" if flag else f"--{name.replace('_', '-')}"
  close = ")" if high_open or high == math.inf else "]"
  interval = f"{'(' if low_open else '['}{low}, {high}{close}"
  ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
  ok = ok and (value > low if low_open else value >= low)
  ok = ok and (value < high if high_open else value <= high)
  if not ok:
    raise ValueError(f"{label} must be a finite number in {interval}, got {value!r}")


@dataclasses.dataclass
class TrainConfig:
  """One pre-training run.

  Example (a few minutes on a laptop CPU; measured here on 2 busy cores: validation
  perplexity 115.9 after 200 steps, from ≈4100 at initialisation)::

    fira-jax train --model llama_tiny --optimizer fira --steps 200 --out runs/fira

  Attributes:
    out: run folder: tokenizer, checkpoints, metrics.jsonl, summary.json
    model: model config (a name of fira_jax.models.CONFIGS)
    optimizer: optimizer (adamw, galore, fira, apollo, apollo_mini or lora)
    rank: rank of GaLore/Fira/APOLLO/LoRA (default: the model's paper-style rank, width/4;
      APOLLO-Mini always uses rank 1)
    update_proj_gap: steps between projector refreshes T (GaLore/Fira)
    alpha: GaLore scale / Fira alpha
    lora_alpha: LoRA alpha (update scaled by alpha/rank)
    lr: peak learning rate (default: 0.01 for galore/fira/apollo, 0.02 for apollo_mini, 0.001
      for adamw/lora, as in the papers)
    rest_lr: peak learning rate of the parameters outside the projected attention/MLP kernels
      (embeddings, norms, output head; same schedule), default: lr. GaLore/Fira/APOLLO give
      the projected matrices an effective rate of about alpha·lr; this separates the two.
    warmup_steps: linear warm-up steps (default: 10% of steps)
    min_lr_ratio: the cosine decays to this fraction of lr
    weight_decay: decoupled weight decay
    clip: clip the global gradient norm (0: off)
    batch_size: global batch size (divisible by the device count)
    seq_len: sequence length
    steps: optimizer steps
    eval_every: validation every N steps
    eval_batches: validation batches
    checkpoint_every: checkpoint every N steps (a final checkpoint is always written)
    log_every: metrics every N steps (each log synchronises the device)
    resume: continue from the last checkpoint in out
    seed: seed of the initialisation and data order
    dtype: compute dtype, float32 or bfloat16 (parameters and optimizer state stay float32)
    data: stdlib | tinyshakespeare | text:PATH | tfds:NAME (see fira_jax.data.prepare_data)
    tokenizer: byte | bpe (trained on the training split) | path/to/tokenizer.json
    vocab_size: BPE vocabulary size
    val_fraction: fraction of documents held out
    max_docs: use at most N documents per split
    mesh_data: size of the 'data' mesh axis (the other devices form 'fsdp')
    fira_options: extra keyword arguments for fira_jax.fira / apollo / apollo_mini (ablations,
      APOLLO's scale; APOLLO's projection seed defaults to the run's seed)
    projector: GaLore/Fira projector: svd (exact, official), eigh (exact subspaces from the
      smaller Gram matrix, faster) or rsvd (randomized, fastest)
    stop_at_step: stop (after a checkpoint) at this step, like a pre-empted job
    keep_checkpoints: keep the newest N checkpoints (a corrupt newest one falls back to the
      previous one)
    max_bad_steps: stop after N consecutive steps whose loss or gradient is not finite (such
      steps are skipped and counted as skipped_steps in metrics.jsonl)
    progress: show the progress bar
    fira_stats_every: Fira only: every N steps (and at step 1) write per-matrix statistics of
      the residual branch (scaling factors, limiter, residual share of the update) to
      fira_stats.jsonl; costs one more gradient at those steps (0: off)
    traced_rates: hold lr and rest_lr in the optimizer state instead of compiling them into
      the step, so runs that differ only in their rates (a sweep) share one compiled step
      through a persistent compilation cache; the same updates up to rounding (needs
      weight_decay 0)
  """

  out: str
  model: str = "llama_tiny"
  optimizer: str = "fira"
  rank: int | None = None
  update_proj_gap: int = 200
  alpha: float = 0.25
  lora_alpha: float = 32.0
  lr: float | None = None
  rest_lr: float | None = None
  warmup_steps: int | None = None
  min_lr_ratio: float = 0.1
  weight_decay: float = 0.0
  clip: float = 0.0
  batch_size: int = 16
  seq_len: int = 128
  steps: int = 200
  eval_every: int = 100
  eval_batches: int = 8
  checkpoint_every: int = 100
  log_every: int = 10
  resume: bool = False
  seed: int = 0
  dtype: str = "float32"
  data: str = "stdlib"
  tokenizer: str = "bpe"
  vocab_size: int = 4096
  val_fraction: float = 0.05
  max_docs: int | None = None
  mesh_data: int = 1
  fira_options: dict = dataclasses.field(default_factory=dict)
  projector: str = "svd"
  stop_at_step: int | None = None
  keep_checkpoints: int = 2
  max_bad_steps: int = 10
  progress: bool = True
  fira_stats_every: int = 0
  traced_rates: bool = False

  def __post_init__(self):
    if self.projector not in PROJECTORS:
      raise ValueError(
        f"--projector must be one of {', '.join(PROJECTORS)}, got {self.projector!r}"
      )
    if self.model not in CONFIGS:
      raise ValueError(f"--model must be one of {', '.join(CONFIGS)}, got {self.model!r}")
    if self.optimizer not in OPTIMIZERS:
      raise ValueError(
        f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}"
      )
    positive_ints = ("batch_size", "seq_len", "steps", "eval_every", "checkpoint_every")
    positive_ints += ("log_every", "update_proj_gap", "keep_checkpoints", "max_bad_steps")
    for name in positive_ints:
      _check_int(name, getattr(self, name), 1)
    if self.rank is None:
      self.rank = PAPER_RANKS[self.model]
    _check_int("rank", self.rank, 1)
    if self.lr is None:
      self.lr = {"galore": 0.01, "fira": 0.01, "apollo": 0.01, "apollo_mini": 0.02}.get(
        self.optimizer, 0.001
      )
    _check_float("lr", self.lr, 0.0, math.inf, low_open=True)
    if self.rest_lr is not None:
      _check_float("rest_lr", self.rest_lr, 0.0, math.inf, low_open=True)
    _check_float("alpha", self.alpha, 0.0, math.inf, low_open=True)
    _check_float("lora_alpha", self.lora_alpha, 0.0, math.inf, low_open=True)
    _check_float("min_lr_ratio", self.min_lr_ratio, 0.0, 1.0)
    _check_float("weight_decay", self.weight_decay, 0.0, math.inf)
    _check_float("clip", self.clip, 0.0, math.inf)
    _check_float("val_fraction", self.val_fraction, 0.0, 1.0, low_open=True, high_open=True)
    for key, low in (("gamma", 1.0), ("scale", 0.0)):
      if self.fira_options.get(key) is not None:
        value = self.fira_options[key]
        _check_float(key, value, low, math.inf, low_open=not low, flag="fira-option")
    if self.warmup_steps is None:
      self.warmup_steps = self.steps // 10
    _check_int("warmup_steps", self.warmup_steps, 0)
    _check_int("fira_stats_every", self.fira_stats_every, 0)
    if self.traced_rates and self.weight_decay:
      raise ValueError("--traced-rates needs --weight-decay 0 (the decay is not linear in lr)")
    if self.warmup_steps >= self.steps:
      raise ValueError(f"--warmup-steps must be < --steps {self.steps}, got {self.warmup_steps}")
    if self.stop_at_step is not None and not 0 < self.stop_at_step <= self.steps:
      raise ValueError(f"--stop-at-step must be in [1, {self.steps}], got {self.stop_at_step}")
