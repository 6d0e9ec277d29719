"""Optimizer-state memory of the paper's LLaMA configurations (no allocation).

Usage: python benchmarks/fira/memory_table.py [--dtype bfloat16] [--out FILE]

The committed tables are in ``benchmarks/results/fira/memory.md``.

Sizes every state with ``fira_jax.optimizer_state_bytes`` (``jax.eval_shape``), for AdamW
(``optax.adamw``), GaLore and Fira at the official recipes' ranks, under both side rules:
``std`` (official: moments on the larger side) and ``reverse_std`` (``optax.contrib``'s).
"""

from __future__ import annotations

import argparse
import math
import pathlib

import jax
import jax.numpy as jnp
import optax

import fira_jax
from fira_jax.models import PAPER_RANKS
from fira_jax.train import projected_dimension_numbers

from _llama_shapes import PAPER_MODELS, llama_param_shapes  # isort: skip (beside this script)


def table(dtype, models=PAPER_MODELS) -> str:
  """The markdown table of ``models`` with parameters (and so states) of ``dtype``."""
  lines = [
    "| model | params | rank | AdamW | GaLore std | Fira std | GaLore reverse_std | "
    "Fira reverse_std | Fira std saving vs AdamW |",
    "|---|---|---|---|---|---|---|---|---|",
  ]
  gib = lambda b: f"{b / 2**30:.3f} GiB"  # noqa: E731
  for name in models:
    params = llama_param_shapes(name, dtype=dtype)
    dims = projected_dimension_numbers(params)
    rank = PAPER_RANKS[name]
    n = sum(math.prod(x.shape) for x in jax.tree.leaves(params))
    adamw = fira_jax.optimizer_state_bytes(optax.adamw(1e-3), params)
    row = {"adamw": adamw}
    for proj_type in ("std", "reverse_std"):
      for opt, factory in (("galore", fira_jax.galore), ("fira", fira_jax.fira)):
        tx = factory(1e-2, rank, proj_type=proj_type, weight_dimension_numbers=dims)
        row[f"{opt}_{proj_type}"] = fira_jax.optimizer_state_bytes(tx, params)
    lines.append(
      f"| {name} | {n / 1e6:.1f}M | {rank} | {gib(adamw)} | {gib(row['galore_std'])} | "
      f"{gib(row['fira_std'])} | {gib(row['galore_reverse_std'])} | "
      f"{gib(row['fira_reverse_std'])} | {100 * (1 - row['fira_std'] / adamw):.1f}% |"
    )
  return "\n".join(lines)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
  parser.add_argument("--out", type=pathlib.Path, default=None)
  args = parser.parse_args()
  text = table(jnp.dtype(args.dtype))
  print(text)
  if args.out:
    args.out.write_text(text + "\n")


if __name__ == "__main__":
  main()
