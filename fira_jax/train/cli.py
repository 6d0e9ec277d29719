"""``fira-jax train``: pre-train a LLaMA model; every flag maps onto a :class:`TrainConfig` field.

The flags, their help and their types come from :class:`~fira_jax.train.TrainConfig` (its
docstring's ``Attributes:`` section and its annotations) through
:func:`fira_jax.lab.config_flags.add_dataclass_flags`; a flag left out keeps the field's
default. ``--fira-option KEY=VALUE`` (repeatable) fills ``TrainConfig.fira_options``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys

from fira_jax.lab.config_flags import add_dataclass_flags, from_args, to_argv
from fira_jax.lab.preemption import EXIT_PREEMPTED, resume_hint
from fira_jax.models.configs import CONFIGS
from fira_jax.train.config import TrainConfig
from fira_jax.train.optimizers import OPTIMIZERS, PROJECTORS

__all__ = ["add_arguments", "run"]

_CHOICES = {
  "model": list(CONFIGS),
  "optimizer": list(OPTIMIZERS),
  "dtype": ["float32", "bfloat16"],
  "projector": list(PROJECTORS),
}


def _fira_option(text: str) -> tuple[str, object]:
  """``KEY=VALUE`` -> ``(KEY, json value)`` (a string when VALUE is not JSON)."""
  if "=" not in text:
    raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
  key, value = text.split("=", 1)
  try:
    return key, json.loads(value)
  except json.JSONDecodeError:
    return key, value


def add_arguments(parser: argparse.ArgumentParser) -> None:
  """Adds one flag per :class:`TrainConfig` field, and ``--fira-option``."""
  add_dataclass_flags(parser, TrainConfig, exclude=("fira_options",), choices=_CHOICES)
  parser.add_argument(
    "--fira-option",
    type=_fira_option,
    action="append",
    default=[],
    metavar="KEY=VALUE",
    help="extra keyword for fira_jax.fira / apollo / apollo_mini (ablations, APOLLO's scale), "
    "JSON value, repeatable",
  )


def _command(args: argparse.Namespace) -> str:
  """The ``fira-jax train`` command line that ``args`` came from."""
  options = [f"--fira-option={k}={json.dumps(v)}" for k, v in args.fira_option]
  return " ".join(["fira-jax train", to_argv(TrainConfig, args), *map(shlex.quote, options)])


def run(args: argparse.Namespace) -> int:
  """Trains the configured run and prints a one-line summary.

  Returns 0, or :data:`~fira_jax.lab.preemption.EXIT_PREEMPTED` (75) when SIGTERM/SIGINT
  stopped the run after checkpointing (run the same command with ``--resume`` to continue).
  """
  from fira_jax.train.loop import train

  config = from_args(TrainConfig, args, fira_options=dict(args.fira_option))
  summary = train(config)
  if summary["stopped"]:
    print(
      f"{summary['stopped']}: stopped after step {summary['steps_done']} of {config.steps}, "
      f"checkpoint committed in {config.out}/checkpoints/{summary['steps_done']}; resume with: "
      f"{resume_hint(_command(args))}",
      file=sys.stderr,
    )
    return EXIT_PREEMPTED
  ppl = "n/a" if summary["val_ppl"] is None else f"{summary['val_ppl']:.2f}"
  print(
    f"{config.optimizer} {config.model}: {summary['steps_done']} steps, "
    f"validation perplexity {ppl}, {summary['tokens_per_s'] or 0:,.0f} tokens/s, "
    f"optimizer state {summary['optimizer_state_bytes'] / 2**20:.2f} MiB; run in {config.out}"
  )
  return 0
