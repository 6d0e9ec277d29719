"""The GEMMs of a GaLore/Fira step, in XLA:CPU and in torch, at 1 and at all threads.

The optimizer step on a CPU is bound by two GEMMs per projected matrix (``P^T G`` and
``P N``). This script times them alone, so ``optimizer.md`` can say how much of the gap to the
official torch code is the GEMM library's, not the optimizer's. JAX runs in this process (its
single-thread rows pin the process to one core with ``taskset``); torch runs in the venv of
``--torch-python`` (built by ``optimizer_step.py --setup-torch``) with ``torch.set_num_threads``
(and the same pinning).

Usage::

  python benchmarks/fira/gemm_threads.py --torch-python .torch-venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap

# (m, n, r): the LLaMA-60M MLP matrix at its rank, the LLaMA-130M one at its rank.
SHAPES = ((512, 1376, 128), (768, 2048, 256))

_TORCH = textwrap.dedent(
  """
  import json, statistics, sys, time, torch
  threads, shapes, repeats = json.loads(sys.stdin.read())
  torch.set_num_threads(threads)
  out = []
  for m, n, r in shapes:
    g, p = torch.randn(m, n), torch.linalg.qr(torch.randn(m, r))[0]
    nn = p.T @ g
    row = {}
    for name, fn in (("project", lambda: p.T @ g), ("back", lambda: p @ nn)):
      for _ in range(3):
        fn()
      ts = []
      for _ in range(repeats):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
      row[name] = statistics.median(ts)
    out.append(row)
  print(json.dumps(out))
  """
)


def jax_times(shapes, repeats):
  import statistics  # noqa: PLC0415
  import time  # noqa: PLC0415

  import jax  # noqa: PLC0415
  import jax.numpy as jnp  # noqa: PLC0415

  out = []
  for m, n, r in shapes:
    g = jax.random.normal(jax.random.PRNGKey(0), (m, n))
    p = jnp.linalg.qr(jax.random.normal(jax.random.PRNGKey(1), (m, r)))[0]
    nn = p.T @ g
    row = {}
    fns = {
      "project": (jax.jit(lambda p, g: p.T @ g), (p, g)),
      "back": (jax.jit(lambda p, x: p @ x), (p, nn)),
    }
    for name, (fn, args) in fns.items():
      for _ in range(3):
        fn(*args).block_until_ready()
      ts = []
      for _ in range(repeats):
        t = time.perf_counter()
        fn(*args).block_until_ready()
        ts.append(time.perf_counter() - t)
      row[name] = statistics.median(ts)
    out.append(row)
  return out


def main():
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--torch-python", default=None)
  ap.add_argument("--repeats", type=int, default=50)
  ap.add_argument("--jax-threads", type=int, default=0, help="internal: time JAX in this process")
  args = ap.parse_args()
  if args.jax_threads:  # child: time JAX under the flags the parent set
    print(json.dumps(jax_times(SHAPES, args.repeats)))
    return
  ncpu = os.cpu_count() or 1
  results = {}
  for threads in sorted({1, ncpu}):
    pin = ["taskset", "-c", "0"] if threads == 1 else []
    cmd = [*pin, sys.executable, __file__, "--jax-threads", str(threads)]
    proc = subprocess.run(
      [*cmd, "--repeats", str(args.repeats)], capture_output=True, text=True, check=True
    )
    results[("jax", threads)] = json.loads(proc.stdout.splitlines()[-1])
    if args.torch_python:
      proc = subprocess.run(
        [*pin, args.torch_python, "-c", _TORCH],
        input=json.dumps([threads, SHAPES, args.repeats]),
        capture_output=True,
        text=True,
        check=True,
      )
      results[("torch", threads)] = json.loads(proc.stdout)
  from fira_jax.lab.machine import describe_machine  # noqa: PLC0415 (JAX not loaded before)

  print(f"Machine: {describe_machine()}.\n")
  print("| m × n, rank | GEMM | library | threads | median time | GFLOP/s |")
  print("|---|---|---|---|---|---|")
  for i, (m, n, r) in enumerate(SHAPES):
    for gemm in ("project", "back"):
      for (lib, threads), rows in results.items():
        t = rows[i][gemm]
        label = "Pᵀ G" if gemm == "project" else "P N"
        print(
          f"| {m} × {n}, {r} | {label} | {lib} | {threads} | {1e3 * t:.3f} ms "
          f"| {2 * m * n * r / t / 1e9:.0f} |"
        )


if __name__ == "__main__":
  main()
