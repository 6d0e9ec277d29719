"""One optimizer update, side by side: optax.adamw, optax.contrib.galore, ours, the official torch.

Usage:
  python benchmarks/fira/optimizer_step.py --models llama_60m,llama_130m --repeats 20 \
      --torch-python .torch-venv/bin/python --out optimizer_run.md
  python benchmarks/fira/optimizer_step.py --setup-torch .torch-venv   # builds the torch venv

A step is what a training loop runs: ``update`` then ``apply_updates`` with the state and the
parameters donated (updated in place, as ``torch.optim.Optimizer.step`` does). Steady state
(after compilation) is a step that does not refresh the projectors; the JAX optimizers are
timed round-robin (A/B interleaved) and reported as median and IQR. The
projector refresh is timed separately as a step with ``update_proj_gap=1`` (an SVD of every
projected matrix at every step); the amortized cost at gap 200 is
``steady + (refresh_step - steady) / 200``.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import pathlib
import statistics
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import fira_jax
from fira_jax.lab import seeds
from fira_jax.lab.machine import describe_machine
from fira_jax.models import PAPER_RANKS
from fira_jax.train import projected_dimension_numbers

from _llama_shapes import llama_param_shapes  # isort: skip (beside this script)

ALPHA = 0.25
PROJECTORS = {  # timed by bench_svd; the first is the reference of the speed-ups
  "exact SVD (`svd_projector`)": fira_jax.svd_projector,
  "Gram eigensolver (`eigh_projector`)": fira_jax.eigh_projector,
  "randomized, q = 2 (default)": fira_jax.randomized_svd_projector(),
  "randomized, q = 1": fira_jax.randomized_svd_projector(power_iters=1),
}


def _optimizers(rank: int, gap: int, dims) -> dict[str, optax.GradientTransformation]:
  fira = functools.partial(
    fira_jax.fira, 1e-2, rank, update_proj_gap=gap, alpha=ALPHA, weight_dimension_numbers=dims
  )
  return {
    "optax_adamw": optax.adamw(1e-3, eps=1e-6),
    "optax_contrib_galore": optax.contrib.galore(
      1e-2, rank=rank, update_proj_gap=gap, scale=ALPHA, weight_dimension_numbers=dims
    ),
    "fira_jax_galore": fira_jax.galore(
      1e-2, rank, update_proj_gap=gap, scale=ALPHA, weight_dimension_numbers=dims
    ),
    "fira_jax_fira": fira(),
    "fira_jax_fira_eigh": fira(projector_fn=fira_jax.eigh_projector),
    "fira_jax_fira_rsvd": fira(projector_fn=fira_jax.randomized_svd_projector()),
  }


def _materialize(shapes, purpose: str):
  leaves, treedef = jax.tree.flatten(shapes)
  keys = jax.random.split(seeds.key(0, purpose), len(leaves))
  return jax.tree.unflatten(
    treedef,
    [0.02 * jax.random.normal(k, s.shape, s.dtype) for k, s in zip(keys, leaves, strict=True)],
  )


def _stepper(tx):
  """One training-loop optimizer step: update and apply, state and params donated (in place,
  as ``torch.optim.Optimizer.step`` works)."""

  @functools.partial(jax.jit, donate_argnums=(1, 2))
  def step(grads, state, params):
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  return step


def _time(fn, *args):
  start = time.perf_counter()
  jax.block_until_ready(fn(*args))
  return time.perf_counter() - start


def _log(msg: str) -> None:
  print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


TORCH = ("torch_adamw", "official_galore", "official_fira")  # _torch_optimizer_step.py's rows
BASE = "optax_adamw"  # every ratio's denominator: always timed


def select(only: str | None) -> tuple[list[str], list[str]]:
  """The JAX and the torch rows named in ``only`` (comma-separated; None: all of them), with
  :data:`BASE` always among the JAX rows.

  Raises:
    ValueError: a name that is no row, naming ``--optimizers`` and the known names.
  """
  jax_names = list(_optimizers(1, 1, None))
  if only is None:
    return jax_names, list(TORCH)
  names = [n.strip() for n in only.split(",") if n.strip()]
  unknown = sorted(set(names) - set(jax_names) - set(TORCH))
  if unknown:
    raise ValueError(f"--optimizers: unknown {unknown}; known: {[*jax_names, *TORCH]}")
  return [n for n in jax_names if n in names or n == BASE], [n for n in TORCH if n in names]


def bench_jax(model: str, repeats: int, gap: int = 200, names: list[str] | None = None):
  """Steady and refresh step times, state bytes of the JAX rows (``names``: a subset)."""
  shapes = llama_param_shapes(model)
  params = _materialize(shapes, "params")
  grads = jax.tree.map(lambda x: 1e-3 * x, _materialize(shapes, "grads"))
  dims = projected_dimension_numbers(shapes)
  rank = PAPER_RANKS[model]
  keep = lambda txs: {k: v for k, v in txs.items() if names is None or k in names}  # noqa: E731
  steady_txs = keep(_optimizers(rank, gap, dims))
  refresh_txs = keep(_optimizers(rank, 1, dims))
  runners = {}
  for name, tx in steady_txs.items():
    _log(f"{model}: compiling {name}")
    step = _stepper(tx)
    p = jax.tree.map(jnp.copy, params)
    p, state = step(grads, tx.init(p), p)  # step 0 refreshes; the state now sits at count 1
    jax.block_until_ready(state)
    runners[name] = [step, p, state]
  times = {name: [] for name in runners}
  for _ in range(repeats):  # round-robin: every optimizer sees the same machine conditions
    for name, runner in runners.items():
      step, p, state = runner
      start = time.perf_counter()
      p, state = jax.block_until_ready(step(grads, state, p))
      times[name].append(time.perf_counter() - start)
      runner[1:] = [p, state]
  del runners
  refresh = {}
  for name, tx in refresh_txs.items():
    if name == "optax_adamw":
      continue
    _log(f"{model}: refresh steps of {name}")
    step = _stepper(tx)
    p = jax.tree.map(jnp.copy, params)
    p, state = jax.block_until_ready(step(grads, tx.init(p), p))
    refresh[name] = []
    for _ in range(max(3, repeats // 5)):
      start = time.perf_counter()
      p, state = jax.block_until_ready(step(grads, state, p))
      refresh[name].append(time.perf_counter() - start)
    del p, state
  bytes_ = {name: fira_jax.optimizer_state_bytes(tx, shapes) for name, tx in steady_txs.items()}
  leaves = [
    (list(s.shape), bool(d is not None))
    for s, d in zip(
      jax.tree.leaves(shapes),
      jax.tree.leaves(dims, is_leaf=lambda x: x is None or hasattr(x, "reduction_axis")),
      strict=True,
    )
  ]
  return times, refresh, bytes_, leaves, rank


def analytic_bytes(leaves, rank, optimizer: str, itemsize=4) -> int:
  """The spec's formula: per projected m x n (std side rule) r*min + 2*r*max, plus one float32
  limiter scalar (Fira); 2*size for every other leaf; plus the int32 step counters."""
  total = 0
  for shape, projected in leaves:
    if projected and optimizer != "adamw":
      m, n = shape
      r = min(rank, m, n)
      total += (r * min(m, n) + 2 * r * max(m, n)) * itemsize + (4 if optimizer == "fira" else 0)
    else:
      total += 2 * math.prod(shape) * itemsize
  return total + 4 * {"adamw": 1, "galore": 3, "fira": 4}[optimizer]


def bench_torch(
  python: str, leaves, rank: int, repeats: int, threads: int, names: tuple[str, ...] = TORCH
):
  job = {
    "leaves": leaves,
    "rank": rank,
    "alpha": ALPHA,
    "gap": 200,
    "repeats": repeats,
    "threads": threads,
    "optimizers": list(names),
  }
  script = pathlib.Path(__file__).with_name("_torch_optimizer_step.py")
  proc = subprocess.run(
    [python, str(script)], input=json.dumps(job), capture_output=True, text=True, check=False
  )
  if proc.returncode:
    raise RuntimeError(f"the torch benchmark failed:\n{proc.stderr[-3000:]}")
  return json.loads(proc.stdout)


def bench_svd(m=2048, n=5461, ranks=(128, 512), repeats=5):
  """Projector times at one 1B MLP matrix, and the gradient energy each basis captures.

  Returns ``{rank: {projector: (times_s, energy)}}``; projectors are timed round robin.
  """
  rng = np.random.default_rng(0)
  # A gradient-like matrix: power-law spectrum sigma_i ~ i^-1 with random singular vectors.
  k = min(m, n)
  u, _ = np.linalg.qr(rng.normal(size=(m, k)))
  v, _ = np.linalg.qr(rng.normal(size=(n, k)))
  g = jnp.asarray((u * (1.0 / np.arange(1, k + 1))) @ v.T, jnp.float32)
  total = float(jnp.sum(g * g))
  rows = {}
  for r in ranks:
    fns = {
      name: jax.jit(lambda g, r=r, p=p: p(g, r, jnp.asarray(0))[0])
      for name, p in PROJECTORS.items()
    }
    bases = {name: jax.block_until_ready(fn(g)) for name, fn in fns.items()}
    times = {name: [] for name in fns}
    for _ in range(repeats):
      for name, fn in fns.items():
        times[name].append(_time(fn, g))
    rows[r] = {
      name: (times[name], float(jnp.sum((b.T @ g) ** 2)) / total) for name, b in bases.items()
    }
  return rows


def _fmt(ts):
  med = statistics.median(ts)
  q = np.percentile(ts, [25, 75])
  return f"{1e3 * med:.1f} ms (IQR {1e3 * q[0]:.1f}–{1e3 * q[1]:.1f})"


def setup_torch(venv: pathlib.Path) -> None:
  """Builds the torch virtual environment with the official packages."""
  subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
  pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
  subprocess.run([*pip, "torch==2.13.0", "numpy"], check=True)
  # fira and galore-torch import transformers (require_version), galore-torch also
  # bitsandbytes (8-bit variant) and tensorly; install those, the two packages without deps.
  subprocess.run([*pip, "transformers", "tensorly", "bitsandbytes"], check=True)
  subprocess.run([*pip, "--no-deps", "fira==1.0.2", "galore-torch==1.0"], check=True)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--models", default="llama_60m,llama_130m")
  parser.add_argument("--repeats", type=int, default=20)
  parser.add_argument("--torch-python", default=None, help="python of a venv with fira, torch")
  parser.add_argument("--setup-torch", type=pathlib.Path, default=None)
  parser.add_argument("--svd", action="store_true", help="also time exact vs randomized SVD")
  parser.add_argument("--out", type=pathlib.Path, default=None)
  parser.add_argument(
    "--optimizers", default=None, help="comma-separated rows (default: all; optax_adamw always)"
  )
  args = parser.parse_args()
  try:
    jax_names, torch_names = select(args.optimizers)
  except ValueError as e:
    parser.error(str(e))
  if args.setup_torch:
    setup_torch(args.setup_torch)
    return
  threads = os.cpu_count() or 1
  lines = [
    f"Machine: {describe_machine()}.",
    "",
  ]
  for model in args.models.split(","):
    times, refresh, bytes_, leaves, rank = bench_jax(model, args.repeats, names=jax_names)
    torch_res = None
    if args.torch_python and torch_names:
      _log(f"{model}: official torch optimizers")
      torch_res = bench_torch(args.torch_python, leaves, rank, args.repeats, threads,
                              tuple(torch_names))  # fmt: skip
      if "torch" not in lines[0]:
        lines[0] += f" torch {torch_res['torch']} ({torch_res['threads']} threads)."
    base = statistics.median(times["optax_adamw"])
    lines += [
      f"### {model} (rank {rank}, gap 200, float32)",
      "",
      "| optimizer | steady step | × optax.adamw | refresh step | amortized at gap 200 "
      "| × optax.adamw | state bytes | analytic |",
      "|---|---|---|---|---|---|---|---|",
    ]
    all_rows = dict(times)
    if torch_res:
      for name, res in torch_res["results"].items():
        all_rows[name] = res["steady_s"]
    for name, ts in all_rows.items():
      med = statistics.median(ts)
      if name in refresh or (torch_res and "refresh_step_s" in torch_res["results"].get(name, {})):
        rts = refresh[name] if name in refresh else torch_res["results"][name]["refresh_step_s"]
        r_med = statistics.median(rts)
        amort = med + max(r_med - med, 0.0) / 200
        refresh_txt, amort_txt = _fmt(rts), f"{1e3 * amort:.1f} ms"
        ratio_amort = f"{amort / base:.2f}"
      else:
        refresh_txt, amort_txt, ratio_amort = "—", f"{1e3 * med:.1f} ms", f"{med / base:.2f}"
      kind = "galore" if "galore" in name else ("fira" if "fira" in name else "adamw")
      b = bytes_.get(name)
      if b is None and torch_res and name in torch_res["results"]:
        b = torch_res["results"][name]["state_bytes"]
      lines.append(
        f"| {name} | {_fmt(ts)} | {med / base:.2f} | {refresh_txt} | {amort_txt} | "
        f"{ratio_amort} | {b:,} | {analytic_bytes(leaves, rank, kind):,} |"
      )
    lines.append("")
  if args.svd:
    lines += [
      "### Projector at 2048 × 5461 (one LLaMA-1B MLP matrix), power-law spectrum",
      "",
      "| rank | projector | time | speed-up vs exact SVD | energy captured |",
      "|---|---|---|---|---|",
    ]
    for r, res in bench_svd().items():
      ref = statistics.median(next(iter(res.values()))[0])
      for name, (ts, energy) in res.items():
        lines.append(
          f"| {r} | {name} | {_fmt(ts)} | {ref / statistics.median(ts):.1f}× | {energy:.5f} |"
        )
  text = "\n".join(lines)
  print(text)
  if args.out:
    args.out.write_text(text + "\n")


if __name__ == "__main__":
  main()
