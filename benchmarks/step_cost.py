"""XLA's static cost of one optimizer step on one LLaMA layer, per parameter (no GPU needed).

Usage:
  python benchmarks/step_cost.py                 # LLaMA-1B layer shapes, bfloat16
  python benchmarks/step_cost.py --model llama_7b --optimizers adamw,fira_svd

Compiles the same jitted, donated ``update`` + ``apply_updates`` step as
``benchmarks/gpu_suite.py`` part a (never refreshing: the gap is a huge traced value) for one
layer's seven projected matrices, and prints XLA's cost analysis: bytes accessed and FLOPs per
parameter. On the default (CPU) backend the numbers include the CPU's bfloat16→float32
conversion around matrix products, so compare optimizers with each other, not with a GPU's
bandwidth. A memory-bound step's time follows its bytes; this is the quick check of a change
to the fused paths before a GPU is at hand.
"""

from __future__ import annotations

import argparse
import sys

import jax
import jax.numpy as jnp
import optax
from gpu_suite import OPTIMIZERS, dimension_numbers, factory

from fira_jax.models import CONFIGS


def step_cost(name: str, model: str) -> dict[str, float]:
  cfg = CONFIGS[model]
  d, f = cfg.d_model, cfg.ffn_dim
  s = lambda *shape: jax.ShapeDtypeStruct(shape, jnp.bfloat16)  # noqa: E731
  layer = {k: s(d, d) for k in ("q", "k", "v", "o")}
  layer |= {"gate": s(d, f), "up": s(d, f), "down": s(f, d)}
  shapes = {"layers": [layer]}
  make_tx, _ = factory(name, model, dimension_numbers(shapes))
  tx = make_tx(2**30)
  state = jax.eval_shape(tx.init, shapes)

  def step(params, state, grads):
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  compiled = jax.jit(step, donate_argnums=(0, 1)).lower(shapes, state, shapes).compile()
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, list) else cost
  n = sum(x.size for x in jax.tree.leaves(shapes))
  return {"bytes": cost.get("bytes accessed", 0.0) / n, "flops": cost.get("flops", 0.0) / n}


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
  parser.add_argument("--model", default="llama_1b", help="layer shapes of this config")
  parser.add_argument("--optimizers", default=",".join(OPTIMIZERS), help="comma-separated")
  args = parser.parse_args(argv)
  print(f"{'optimizer':12s} {'bytes/param':>12s} {'flops/param':>12s}  ({jax.default_backend()})")
  for name in args.optimizers.split(","):
    c = step_cost(name, args.model)
    print(f"{name:12s} {c['bytes']:12.1f} {c['flops']:12.1f}", flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
