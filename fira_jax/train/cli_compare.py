"""``fira-jax fira compare``: AdamW, GaLore and Fira on a synthetic regression task.

A student MLP (``in -> width -> width -> out``) learns a random teacher MLP from Gaussian
inputs. Every optimizer starts from the same initialisation and sees the same batches; the
table reports the final training loss (mean of the last 10 steps), the held-out loss, the
optimizer-state bytes and the time per step.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import fira_jax
from fira_jax.lab.metrics import progress_bar
from fira_jax.lab.results import markdown_table

__all__ = ["format_table", "make_optimizers", "run_comparison", "add_arguments", "run"]


def _mlp_init(key, sizes):
  keys = jax.random.split(key, len(sizes) - 1)
  return {
    f"dense{i}": {
      "kernel": jax.random.normal(k, (a, b)) / np.sqrt(a),
      "bias": jnp.zeros((b,)),
    }
    for i, (k, a, b) in enumerate(zip(keys, sizes[:-1], sizes[1:], strict=True))
  }


def _mlp_apply(params, x):
  n = len(params)
  for i in range(n):
    layer = params[f"dense{i}"]
    x = x @ layer["kernel"] + layer["bias"]
    if i < n - 1:
      x = jax.nn.gelu(x)
  return x


def make_optimizers(lr: float, rank: int, gap: int) -> dict[str, optax.GradientTransformation]:
  """The compared optimizers; projected leaves are the 2-D kernels (biases take AdamW)."""
  return {
    "adamw": optax.adamw(lr, b1=0.9, b2=0.999, eps=1e-6, weight_decay=0.0),
    "galore": fira_jax.galore(lr, rank, update_proj_gap=gap, scale=0.25),
    "fira": fira_jax.fira(lr, rank, update_proj_gap=gap, alpha=0.25),
  }


def run_comparison(
  *,
  steps: int = 1000,
  width: int = 256,
  rank: int = 32,
  lr: float = 3e-3,
  batch_size: int = 128,
  update_proj_gap: int = 50,
  seed: int = 0,
  progress: bool = True,
) -> list[dict[str, float | str]]:
  """Trains the student with each optimizer; returns one result row per optimizer."""
  if steps <= 0 or width <= 0 or rank <= 0 or batch_size <= 0:
    raise ValueError("--steps, --width, --rank and --batch-size must be positive")
  d_in, d_out = 64, 16
  key_teacher, key_student, key_data, key_eval = jax.random.split(jax.random.PRNGKey(seed), 4)
  teacher = _mlp_init(key_teacher, [d_in, 4 * d_in, d_out])
  init = _mlp_init(key_student, [d_in, width, width, d_out])
  x_eval = jax.random.normal(key_eval, (2048, d_in))
  y_eval = _mlp_apply(teacher, x_eval)

  def loss_fn(params, x, y):
    return jnp.mean((_mlp_apply(params, x) - y) ** 2)

  init_eval = float(loss_fn(init, x_eval, y_eval))
  rows = []
  for name, tx in make_optimizers(lr, rank, update_proj_gap).items():

    @jax.jit
    def step(params, state, t, tx=tx):
      x = jax.random.normal(jax.random.fold_in(key_data, t), (batch_size, d_in))
      loss, grads = jax.value_and_grad(loss_fn)(params, x, _mlp_apply(teacher, x))
      updates, state = tx.update(grads, state, params)
      return optax.apply_updates(params, updates), state, loss

    params, state = init, tx.init(init)
    params, state, _ = step(params, state, 0)  # compile outside the timing
    jax.block_until_ready(params)
    params, state = init, tx.init(init)
    losses = []
    start = time.perf_counter()
    with progress_bar(steps, desc=f"{name:>6}", disable=not progress) as bar:
      for t in range(steps):
        params, state, loss = step(params, state, t)
        losses.append(loss)
        bar.update(1)
        if t % 20 == 0:
          bar.set_postfix(loss=f"{float(loss):.4f}")
    jax.block_until_ready(params)
    elapsed = time.perf_counter() - start
    rows.append(
      {
        "optimizer": name,
        "train_loss": float(np.mean(jax.device_get(losses[-10:]))),
        "eval_loss": float(loss_fn(params, x_eval, y_eval)),
        "initial_eval_loss": init_eval,
        "state_bytes": fira_jax.optimizer_state_bytes(tx, init),
        "ms_per_step": 1e3 * elapsed / steps,
      }
    )
  return rows


def format_table(rows: list[dict[str, float | str]]) -> str:
  """A Markdown table of :func:`run_comparison`'s rows."""
  return markdown_table(
    ["optimizer", "train loss", "eval loss", "state bytes", "ms/step"],
    (
      [
        r["optimizer"],
        f"{r['train_loss']:.4f}",
        f"{r['eval_loss']:.4f}",
        f"{r['state_bytes']:,}",
        f"{r['ms_per_step']:.2f}",
      ]
      for r in rows
    ),
  )


_FLAGS = ("steps", "width", "rank", "lr", "batch_size", "update_proj_gap", "seed")


def add_arguments(parser: argparse.ArgumentParser) -> None:
  """Adds the flags of :func:`run_comparison`."""
  d = " (default: %(default)s)"
  parser.add_argument("--steps", type=int, default=1000, help="training steps per optimizer" + d)
  parser.add_argument("--width", type=int, default=256, help="hidden width of the student MLP" + d)
  parser.add_argument("--rank", type=int, default=32, help="GaLore/Fira rank" + d)
  parser.add_argument("--lr", type=float, default=3e-3, help="learning rate" + d)
  parser.add_argument("--batch-size", type=int, default=128, help="batch size" + d)
  parser.add_argument(
    "--update-proj-gap", type=int, default=50, help="steps between projector refreshes" + d
  )
  parser.add_argument("--seed", type=int, default=0, help="seed of teacher, student and data" + d)
  parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def run(args: argparse.Namespace) -> int:
  """Runs the comparison with the flags' values and prints the table."""
  flags = {name: getattr(args, name) for name in _FLAGS}
  print(format_table(run_comparison(**flags, progress=not args.no_progress)))
  return 0
