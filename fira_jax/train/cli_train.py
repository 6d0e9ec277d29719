"""``fira-jax train``: pre-train a LLaMA model; every flag maps onto a TrainConfig field."""

from __future__ import annotations

import argparse
import dataclasses
import json

from fira_jax.models.configs import CONFIGS
from fira_jax.train.config import TrainConfig
from fira_jax.train.optimizers import OPTIMIZERS, PROJECTORS

_HELP = {
  "out": "run folder: tokenizer, checkpoints, metrics.jsonl, summary.json",
  "model": "model config",
  "optimizer": "optimizer",
  "rank": "rank of GaLore/Fira/LoRA (default: the model's paper-style rank, width/4)",
  "update_proj_gap": "steps between projector refreshes (GaLore/Fira)",
  "alpha": "GaLore scale / Fira alpha",
  "lora_alpha": "LoRA alpha (update scaled by alpha/rank)",
  "lr": "peak learning rate (default 0.01 for galore/fira, 0.001 for adamw/lora)",
  "warmup_steps": "linear warm-up steps (default 10%% of --steps)",
  "min_lr_ratio": "cosine decays to this fraction of --lr",
  "weight_decay": "decoupled weight decay",
  "clip": "clip the global gradient norm (0: off)",
  "batch_size": "global batch size (divisible by the device count)",
  "seq_len": "sequence length",
  "steps": "optimizer steps",
  "eval_every": "validation every N steps",
  "eval_batches": "validation batches",
  "checkpoint_every": "checkpoint every N steps",
  "log_every": "metrics every N steps",
  "seed": "seed of the initialisation and data order",
  "dtype": "compute dtype (parameters and optimizer state stay float32)",
  "data": "stdlib | text:PATH | tfds:NAME",
  "tokenizer": "byte | bpe (trained on the training split) | path/to/tokenizer.json",
  "vocab_size": "BPE vocabulary size",
  "val_fraction": "fraction of documents held out",
  "max_docs": "use at most N documents per split",
  "mesh_data": "size of the 'data' mesh axis (the other devices form 'fsdp')",
  "stop_at_step": "stop (after a checkpoint) at this step, like a pre-empted job",
  "projector": "GaLore/Fira projector: svd (exact, official), eigh (exact subspaces, faster) "
  "or rsvd (randomized, fastest)",
}
_CHOICES = {
  "model": list(CONFIGS),
  "optimizer": list(OPTIMIZERS),
  "dtype": ["float32", "bfloat16"],
  "projector": list(PROJECTORS),
}
_INT_OR_NONE = ("rank", "warmup_steps", "max_docs", "stop_at_step")
_FLOAT_OR_NONE = ("lr",)


def _fira_option(text: str) -> tuple[str, object]:
  if "=" not in text:
    raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
  key, value = text.split("=", 1)
  try:
    return key, json.loads(value)
  except json.JSONDecodeError:
    return key, value


def add_arguments(parser: argparse.ArgumentParser) -> None:
  for field in dataclasses.fields(TrainConfig):
    if field.name not in _HELP:
      continue
    flag = "--" + field.name.replace("_", "-")
    default = None if field.default is dataclasses.MISSING else field.default
    if field.name in _INT_OR_NONE:
      kind = int
    elif field.name in _FLOAT_OR_NONE:
      kind = float
    else:
      kind = type(default) if default is not None else str
    help_text = _HELP[field.name] + ("" if default is None else " (default: %(default)s)")
    parser.add_argument(
      flag,
      type=kind,
      default=default,
      required=field.name == "out",
      choices=_CHOICES.get(field.name),
      help=help_text,
    )
  parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
  parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
  parser.add_argument(
    "--fira-option",
    type=_fira_option,
    action="append",
    default=[],
    metavar="KEY=VALUE",
    help="extra keyword for fira_jax.fira (ablations), JSON value, repeatable",
  )


def run(args: argparse.Namespace) -> int:
  from fira_jax.train.loop import train

  kwargs = {
    f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if f.name in _HELP
  }
  config = TrainConfig(
    **kwargs,
    resume=args.resume,
    progress=not args.no_progress,
    fira_options=dict(args.fira_option),
  )
  summary = train(config)
  ppl = "n/a" if summary["val_ppl"] is None else f"{summary['val_ppl']:.2f}"
  print(
    f"{config.optimizer} {config.model}: {summary['steps_done']} steps, "
    f"validation perplexity {ppl}, {summary['tokens_per_s'] or 0:,.0f} tokens/s, "
    f"optimizer state {summary['optimizer_state_bytes'] / 2**20:.2f} MiB; run in {config.out}"
  )
  return 0
