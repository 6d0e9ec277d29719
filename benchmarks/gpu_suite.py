"""The GPU suite: optimizer steps at LLaMA 1B/7B and LLaMA-350M training throughput.

Usage (one H200, under 7 minutes; writes ``<out>/gpu.md`` and ``<out>/gpu_runs.jsonl``):
  python benchmarks/gpu_suite.py --out benchmarks/results/fira
  python benchmarks/gpu_suite.py --smoke --out /tmp/gpu_smoke   # the same code, tiny, on a CPU
In parts, keeping the rows already measured (``--append``; each call re-renders ``gpu.md``
from every row, and the hand-written notes after its notes marker are kept)::
  python benchmarks/gpu_suite.py --out benchmarks/results/fira --append --models llama_7b \
    --parts a --budget-s 500
  python benchmarks/gpu_suite.py --out benchmarks/results/fira --append --parts b --budget-s 300

a. Optimizer step: optax AdamW, GaLore, Fira (svd / eigh / rsvd projector), APOLLO and
   APOLLO-Mini on the paper's LLaMA parameter trees (shapes of ``fira_jax.models.CONFIGS``,
   built with ``jax.random.normal`` in bfloat16: parameters, gradients and optimizer states
   are bf16). A step is ``update`` + ``apply_updates``, jitted with the parameters and the
   state donated. The ordinary step (no projector refresh) is the median of ``--repeats``
   calls after warm-up; the refresh step is timed the same way by passing the refresh gap as
   an argument of the same compiled program (gap 1: every call refreshes). Where a refresh
   would take too long to repeat (an exact SVD of every matrix of a 7B model), it is
   estimated as ordinary step + the sum over matrices of the projector's time on one matrix
   of each shape (timed alone), and the table says so. Amortized at gap 200:
   ``(199 ordinary + refresh) / 200``, reported as a ratio to optax AdamW's step.
b. End to end: LLaMA-350M training steps (``fira_jax.train.make_train_step``, bf16 compute,
   float32 parameters and optimizer state as in ``fira-jax train --dtype bfloat16``) on
   synthetic tokens, with AdamW and with Fira: tokens/s and MFU = 6 N tokens/s / peak, with
   N the parameters outside the embedding table and the peak ``--peak-tflops`` (H200 dense
   bf16: 989 TFLOP/s); attention's own FLOPs are not counted (small at sequence 256).

Every row is written as soon as it is measured (the runs file gets one line, the markdown is
re-rendered), so a time-out keeps what was done; a row that fails is recorded with its error
and the suite goes on. ``--budget-s`` skips the rows that no longer fit.
"""

from __future__ import annotations

import argparse
import functools
import gc
import pathlib
import statistics
import sys
import time
import traceback

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from optax.contrib import GaLoreDimensionNumbers

import fira_jax
from fira_jax.lab import seeds
from fira_jax.lab.machine import describe_machine
from fira_jax.lab.results import (
  command_line,
  field,
  make_record,
  markdown_table,
  read_runs,
  write_runs,
)
from fira_jax.models import CONFIGS, PAPER_RANKS, Llama, get_config
from fira_jax.train import FlatModel, make_optimizer, make_train_step

GAP = 200
NEVER = 2**30  # a refresh gap no timed step reaches
PROJECTED = ("q", "k", "v", "o", "gate", "up", "down")
# In the order they run (the most asked-for first, as a time budget may cut the last ones).
OPTIMIZERS = ("adamw", "fira_svd", "fira_rsvd", "fira_eigh", "apollo", "apollo_mini", "galore")
# APOLLO's ranks from the official scripts (scripts/pretrain_c4); GaLore/Fira use PAPER_RANKS.
APOLLO_RANKS = {"llama_60m": 128, "llama_350m": 256, "llama_1b": 512, "llama_7b": 256}
ALPHA = 0.0625  # the official Fira recipe at 1B and 7B (does not change the time)
PEAK_TFLOPS = 989.0  # H200 SXM, dense bf16
# row_s / e2e_row_s: the longest a row of part a / b is expected to take (budget checks).
FULL = dict(
  models=("llama_1b", "llama_7b"), e2e_model="llama_350m", batch=128, seq=256, row_s=45.0,
  e2e_row_s=60.0,
)  # fmt: skip
SMOKE = dict(models=("smoke",), e2e_model="smoke", batch=8, seq=32, row_s=5.0, e2e_row_s=5.0)
REFRESH_REPEAT_S = 2.0  # refreshes estimated slower than this are timed once
REFRESH_MEASURE_S = 20.0  # ... and slower than this estimated, not run whole


def log(msg: str) -> None:
  print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# -- parameter trees ------------------------------------------------------------------------


def param_shapes(model: str, dtype) -> dict:
  """``ShapeDtypeStruct`` tree of a LLaMA decoder in Flax ``(in, out)`` kernel layout."""
  cfg = CONFIGS[model]
  d, f, vocab = cfg.d_model, cfg.ffn_dim, cfg.vocab_size
  s = lambda *shape: jax.ShapeDtypeStruct(shape, dtype)  # noqa: E731
  layer = {k: s(d, d) for k in ("q", "k", "v", "o")}
  layer |= {"gate": s(d, f), "up": s(d, f), "down": s(f, d), "attn_norm": s(d), "mlp_norm": s(d)}
  layers = [dict(layer) for _ in range(cfg.num_layers)]
  return {"embed": s(vocab, d), "layers": layers, "final_norm": s(d), "lm_head": s(d, vocab)}


def dimension_numbers(shapes: dict) -> dict:
  """The paper's projected leaves: the attention and MLP kernels."""

  def dims(path, _):
    return GaLoreDimensionNumbers() if getattr(path[-1], "key", None) in PROJECTED else None

  return jax.tree.map_with_path(dims, shapes)


def matrix_counts(shapes: dict) -> dict[tuple[int, int], int]:
  """How many projected matrices of each ``(m, n)`` shape the tree holds."""
  counts: dict[tuple[int, int], int] = {}
  for layer in shapes["layers"]:
    for k in PROJECTED:
      counts[layer[k].shape] = counts.get(layer[k].shape, 0) + 1
  return counts


def materialize(shapes: dict, key, scale: float) -> dict:
  """Random leaves, drawn one by one: one small program per distinct shape (a single jit over
  a 7B tree's hundreds of leaves took minutes to compile on the H200)."""
  leaves, treedef = jax.tree.flatten(shapes)
  keys = jax.random.split(key, len(leaves))
  out = [
    (scale * jax.random.normal(k, s.shape, jnp.float32)).astype(s.dtype)
    for k, s in zip(keys, leaves, strict=True)
  ]
  return jax.tree.unflatten(treedef, out)


# -- optimizers -----------------------------------------------------------------------------


def ranks(model: str) -> dict[str, int]:
  return {"low_rank": PAPER_RANKS[model], "apollo": APOLLO_RANKS.get(model, PAPER_RANKS[model])}


PROJECTORS = {
  "svd": fira_jax.svd_projector,
  "eigh": fira_jax.eigh_projector,
  "rsvd": fira_jax.randomized_svd_projector(),
}
PROJECTOR_OF = {"galore": "svd", "fira_svd": "svd", "fira_eigh": "eigh", "fira_rsvd": "rsvd"}


REFRESH_BATCH = 8  # --refresh-batch-size: same-shape matrices refreshed together (0: per leaf)


def factory(name: str, model: str, dims: dict, refresh_batch: int = REFRESH_BATCH):
  """``(gap -> optax transform, rank)``; the gap may be a traced array."""
  r = ranks(model)
  common = dict(weight_dimension_numbers=dims)
  low_rank = dict(common, refresh_batch_size=refresh_batch or None)
  if name == "adamw":
    return (lambda gap: optax.adamw(1e-3, eps=1e-6)), None
  if name == "galore":
    return functools.partial(_galore, r["low_rank"], low_rank), r["low_rank"]
  if name.startswith("fira_"):
    projector_fn = PROJECTORS[PROJECTOR_OF[name]]
    return functools.partial(_fira, r["low_rank"], projector_fn, low_rank), r["low_rank"]
  if name == "apollo":
    return functools.partial(_apollo, r["apollo"], common), r["apollo"]
  if name == "apollo_mini":
    return functools.partial(_apollo_mini, common), 1
  raise ValueError(f"unknown optimizer {name!r}")


def _galore(rank, common, gap):
  return fira_jax.galore(1e-2, rank, update_proj_gap=gap, scale=ALPHA, **common)


def _fira(rank, projector_fn, common, gap):
  return fira_jax.fira(
    1e-2, rank, update_proj_gap=gap, alpha=ALPHA, projector_fn=projector_fn, **common
  )


def _apollo(rank, common, gap):
  return fira_jax.apollo(1e-2, rank, update_proj_gap=gap, **common)


def _apollo_mini(common, gap):
  return fira_jax.apollo_mini(1e-2, update_proj_gap=gap, **common)


def _bump_counts(state):
  """Every int32 scalar counter + 1, so the first timed step is not a refresh (t = 0)."""
  return jax.tree.map(lambda x: x + 1 if x.ndim == 0 and x.dtype == jnp.int32 else x, state)


def _median_time(fn, runs: int) -> tuple[float, list[float]]:
  times = []
  for _ in range(runs):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return statistics.median(times), times


@functools.cache
def projector_seconds(kind: str, shape: tuple[int, int], rank: int, repeats: int) -> float:
  """Time of one projector call (the side the official rule uses) on an f32 matrix."""
  projector_fn = PROJECTORS[kind]
  m, n = shape
  right = m >= n

  @jax.jit
  def one(g):
    u, v = projector_fn(g, min(rank, m, n), jnp.int32(0))
    return v if right else u

  g = jax.random.normal(seeds.key(0, "projector timing"), shape, jnp.float32)
  compiled = one.lower(g).compile()
  first, _ = _median_time(lambda: compiled(g), 1)  # one-time costs (kernels, thread pools)
  second, _ = _median_time(lambda: compiled(g), 1)
  if first + second > 2.0:  # slow enough that one more run says nothing new
    return second
  return _median_time(lambda: compiled(g), repeats)[0]


def bench_step(
  name: str, model: str, state_box: dict, repeats: int, refresh_batch: int = REFRESH_BATCH
) -> dict:
  """Times one optimizer's ordinary and refresh steps; ``state_box`` holds params/grads."""
  shapes, dims = state_box["shapes"], state_box["dims"]
  make_tx, rank = factory(name, model, dims, refresh_batch)
  tx = make_tx(GAP)

  def step(params, state, grads, gap):
    updates, state = make_tx(gap).update(grads, state, params)
    return optax.apply_updates(params, updates), state

  t0 = time.perf_counter()
  state = _bump_counts(jax.jit(tx.init)(state_box["params"]))
  jitted = jax.jit(step, donate_argnums=(0, 1))
  never, every = jnp.int32(NEVER), jnp.int32(1)
  compiled = jitted.lower(state_box["params"], state, state_box["grads"], never).compile()
  compile_s = time.perf_counter() - t0
  box = [state_box.pop("params"), state]

  def call(gap):
    box[0], box[1] = compiled(box[0], box[1], state_box["grads"], gap)
    return box[1]

  try:
    for _ in range(2):
      jax.block_until_ready(call(never))
    ordinary, ordinary_all = _median_time(lambda: call(never), repeats)
    refresh, how = ordinary, "none"
    estimate = None
    if name in PROJECTOR_OF:
      kind = PROJECTOR_OF[name]
      counts = matrix_counts(shapes).items()
      estimate = sum(c * projector_seconds(kind, shape, rank, 3) for shape, c in counts)
    if estimate is None or estimate < REFRESH_REPEAT_S:
      if name != "adamw":
        jax.block_until_ready(call(every))  # the refresh branch's first run
        refresh, _ = _median_time(lambda: call(every), repeats)
        how = f"measured ({repeats} steps)"
    elif estimate < REFRESH_MEASURE_S:
      refresh, _ = _median_time(lambda: call(every), 1)
      how = "measured (1 step)"
    else:
      refresh, how = ordinary + estimate, "estimated: ordinary + per-matrix projector times"
  finally:  # after a failure mid-step the donated parameters may be gone: remake them
    alive = not any(x.is_deleted() for x in jax.tree.leaves(box[0]))
    state_box["params"] = box[0] if alive else state_box["remake"]()
  amortized = ((GAP - 1) * ordinary + refresh) / GAP
  return {
    "rank": rank,
    "ordinary_s": ordinary,
    "ordinary_all_s": ordinary_all,
    "refresh_s": refresh,
    "refresh_how": how,
    "refresh_estimate_s": estimate,
    "amortized_s": amortized,
    "compile_s": compile_s,
    "state_bytes": fira_jax.optimizer_state_bytes(tx, shapes),
  }


# -- end to end -----------------------------------------------------------------------------


def bench_train(name: str, model: str, batch: int, seq: int, warmup: int, steps: int) -> dict:
  cfg = get_config(model, dtype="bfloat16", max_seq_len=max(seq, CONFIGS[model].max_seq_len))

  def create():
    return Llama(cfg, rngs=nnx.Rngs(0))

  flat = FlatModel(nnx.eval_shape(create))
  params, frozen = jax.jit(lambda: (lambda m: (m.params, m.frozen))(FlatModel(create())))()
  rank = PAPER_RANKS[model]
  if name == "adamw":
    tx = make_optimizer("adamw", learning_rate=1e-3, params=params)
  else:
    tx = make_optimizer(name, learning_rate=1e-2, params=params, rank=rank, alpha=0.25)
  opt_state = jax.jit(tx.init)(params)
  train_step = make_train_step(flat, tx)
  tokens = jax.random.randint(seeds.key(0, "synthetic tokens"), (batch, seq + 1), 0, cfg.vocab_size)
  t0 = time.perf_counter()
  for _ in range(warmup):  # the first compiles (and, for Fira, refreshes the projectors)
    params, opt_state, metrics = train_step(params, opt_state, frozen, tokens)
  jax.block_until_ready(metrics["loss"])
  warmup_s = time.perf_counter() - t0
  start = time.perf_counter()
  for _ in range(steps):
    params, opt_state, metrics = train_step(params, opt_state, frozen, tokens)
  jax.block_until_ready((params, metrics["loss"]))
  seconds = time.perf_counter() - start
  n_params = sum(x.size for x in jax.tree.leaves(params))
  n_matmul = n_params - cfg.vocab_size * cfg.d_model  # without the embedding table
  tokens_per_s = steps * batch * seq / seconds
  return {
    "rank": rank if name != "adamw" else None,
    "step_s": seconds / steps,
    "tokens_per_s": tokens_per_s,
    "model_tflops": 6 * n_matmul * tokens_per_s / 1e12,
    "params": n_params,
    "matmul_params": n_matmul,
    "warmup_s": warmup_s,
    "loss": float(metrics["loss"]),
    "state_bytes": fira_jax.optimizer_state_bytes(tx, params),
  }


# -- report ---------------------------------------------------------------------------------


def _ms(x) -> str:
  return "–" if x is None else f"{1e3 * x:.2f}"


def _mib(n: int) -> str:
  return f"{n / 2**20:,.2f}"


def render(records: list[dict], args, machine: str) -> str:
  peak = args.peak_tflops
  lines = [
    "# GPU suite: optimizer steps and training throughput",
    "",
    f"Machine: {machine}.",
    "",
    "Command: " + "; ".join(f"`{c}`" for c in dict.fromkeys(r["command"] for r in records)),
    "",
    "## a. One optimizer step on the paper's LLaMA parameter trees (bf16)",
    "",
    f"Parameters, gradients and optimizer states in bfloat16; a step is a jitted, donated "
    f"`update` + `apply_updates`; ordinary = median of {args.repeats} steps after warm-up; "
    f"amortized at gap {GAP} = (199 ordinary + refresh) / 200. Ranks: GaLore/Fira "
    "`fira_jax.models.PAPER_RANKS` (1B 512, 7B 64, the official Fira recipes), α = "
    f"{ALPHA}; APOLLO the official scripts' (1B 512, 7B 256); APOLLO-Mini 1. "
    "Ratios are to optax AdamW's step. GaLore/Fira refresh the projectors of same-shape "
    "matrices together, `refresh_batch_size` at a time (0: one by one): "
    + ", ".join(
      sorted(
        {
          str(r["settings"].get("refresh_batch_size", 0))
          for r in records
          if r["settings"]["part"] == "a"
        }
      )
    )
    + ".",
  ]
  part_a = [r for r in records if r["settings"]["part"] == "a"]
  for model in dict.fromkeys(r["settings"]["model"] for r in part_a):
    rows = [r for r in part_a if r["settings"]["model"] == model]
    base = next(
      (r["metrics"]["ordinary_s"] for r in rows if r["method"] == "adamw" and "error" not in r),
      None,
    )
    table = []
    for r in rows:
      m = r["metrics"]
      if "error" in r:
        table.append([r["method"], "", "", "", "", "", "", f"error: {r['error']}"])
        continue
      ratio = "–" if base is None else f"{m['amortized_s'] / base:.2f}"
      table.append([
        r["method"], m["rank"] or "–", _ms(m["ordinary_s"]), _ms(m["refresh_s"]),
        _ms(m["amortized_s"]), ratio, _mib(m["state_bytes"]), m["refresh_how"],
      ])  # fmt: skip
    header = ["optimizer", "rank", "ordinary ms", "refresh ms", "amortized ms", "× AdamW",
              "state MiB", "refresh step"]  # fmt: skip
    lines += ["", f"### {model}", "", markdown_table(header, table)]
  part_b = [r for r in records if r["settings"]["part"] == "b"]
  if part_b:
    s = part_b[0]["settings"]
    lines += [
      "",
      f"## b. End-to-end training, {s['model']} (bf16 compute, float32 parameters and state)",
      "",
      f"Batch {s['batch_size']} × sequence {s['seq_len']}, synthetic tokens, "
      f"{s['warmup']} warm-up then {s['steps']} timed steps (ordinary steps: the projectors "
      f"refresh at step 0 only). MFU = 6·N·tokens/s / {peak:g} TFLOP/s (dense bf16 peak), N = "
      "parameters outside the embedding table; attention's own FLOPs not counted.",
      "",
    ]
    table = []
    for r in part_b:
      m = r["metrics"]
      if "error" in r:
        table.append([r["method"], "", "", "", "", "", f"error: {r['error']}"])
        continue
      table.append([
        r["method"], m["rank"] or "–", f"{1e3 * m['step_s']:.1f}", f"{m['tokens_per_s']:,.0f}",
        f"{m['model_tflops']:.1f}", f"{100 * m['model_tflops'] / peak:.1f}%",
        _mib(m["state_bytes"]),
      ])  # fmt: skip
    header = ["optimizer", "rank", "step ms", "tokens/s", "TFLOP/s", "MFU", "state MiB"]
    lines.append(markdown_table(header, table))
  skipped = [r for r in records if r.get("skipped")]
  if skipped:
    lines += ["", "Skipped (time budget): " + ", ".join(
      f"{r['settings']['model']} {r['method']}" for r in skipped
    )]  # fmt: skip
  return "\n".join(lines) + "\n"


NOTES = "<!-- notes: kept when the report is re-rendered -->"
ROW = ("settings.part", "settings.model", "method")  # one row of the report


def _row(record: dict) -> tuple:
  return tuple(field(record, k) for k in ROW)


class Report:
  """Writes each row to the runs file as soon as it is measured and re-renders the markdown.

  With ``append`` the rows already in the runs file are kept (a row measured again replaces
  its old one), so the suite can be run in parts, e.g. one call per model. Anything after the
  :data:`NOTES` line of an existing ``gpu.md`` is kept below the re-rendered tables.
  """

  def __init__(self, out: pathlib.Path, args, command: str, append: bool = False):
    self.md, self.runs = out / "gpu.md", out / "gpu_runs.jsonl"
    self.args, self.machine, self.command = args, describe_machine(), command
    self.records = []
    if append and self.runs.is_file():
      self.records = read_runs(self.runs, key=ROW, duplicates="last")
    self.notes = ""
    if self.md.is_file() and NOTES in (text := self.md.read_text(encoding="utf-8")):
      self.notes = "\n" + NOTES + text.split(NOTES, 1)[1]
    write_runs(self.runs, self.records)

  def add(self, method: str, settings: dict, metrics: dict, **extra) -> None:
    record = make_record(
      method, 0, settings, metrics, machine=self.machine, command=self.command, **extra
    )
    self.records = [r for r in self.records if _row(r) != _row(record)] + [record]
    write_runs(self.runs, self.records)
    text = render(self.records, self.args, self.machine) + self.notes
    self.md.write_text(text, encoding="utf-8")


def run_row(report: Report, method: str, settings: dict, fn, deadline: float, need_s: float):
  if time.perf_counter() + need_s > deadline:
    log(f"skip {settings['model']} {method}: time budget")
    report.add(method, settings, {}, skipped=True, error="skipped: time budget")
    return
  log(f"{settings['part']} {settings['model']} {method} ...")
  try:
    metrics = fn()
  except Exception as e:  # one failing row must not end the suite
    traceback.print_exc()
    report.add(method, settings, {}, error=f"{type(e).__name__}: {str(e).splitlines()[0][:200]}")
    return
  finally:
    gc.collect()
  report.add(method, settings, metrics)
  log(f"  {method}: " + ", ".join(f"{k}={v:.4g}" for k, v in metrics.items() if _is_num(v)))


def _is_num(v) -> bool:
  return isinstance(v, (int, float)) and not isinstance(v, bool)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
  parser.add_argument("--smoke", action="store_true", help="tiny trees and model (CPU, CI)")
  parser.add_argument("--out", default="benchmarks/results/fira", help="output folder")
  parser.add_argument(
    "--budget-s", type=float, default=380.0, help="start no row that may end past this"
  )
  parser.add_argument("--repeats", type=int, default=None, help="timed steps per median")
  parser.add_argument("--peak-tflops", type=float, default=PEAK_TFLOPS, help="dense bf16 peak")
  parser.add_argument("--batch-size", type=int, default=None, help="part b batch")
  parser.add_argument("--seq-len", type=int, default=None, help="part b sequence length")
  parser.add_argument("--models", default=None, help="part a trees, e.g. llama_1b,llama_7b")
  parser.add_argument("--skip-e2e", action="store_true", help="only part a (= --parts a)")
  parser.add_argument("--parts", default="a,b", help="a (optimizer steps), b (end to end)")
  parser.add_argument(
    "--append", action="store_true", help="keep the rows of <out>/gpu_runs.jsonl (run in parts)"
  )
  parser.add_argument(
    "--refresh-batch-size",
    type=int,
    default=REFRESH_BATCH,
    help="GaLore/Fira: same-shape matrices refreshed together (refresh_batch_size; 0: per leaf)",
  )
  parser.add_argument(
    "--optimizers", default=None, help=f"part a rows, a subset of {','.join(OPTIMIZERS)}"
  )
  args = parser.parse_args(argv)
  plan = SMOKE if args.smoke else FULL
  args.repeats = args.repeats or (2 if args.smoke else 7)
  batch, seq = args.batch_size or plan["batch"], args.seq_len or plan["seq"]
  deadline = time.perf_counter() + args.budget_s
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  argv = sys.argv[1:] if argv is None else list(argv)
  parts = set(args.parts.split(","))
  if not parts <= {"a", "b"}:
    parser.error(f"--parts: a comma-separated subset of a,b, got {args.parts!r}")
  if args.skip_e2e:
    parts.discard("b")
  command = command_line(["python", "benchmarks/gpu_suite.py", *argv])
  report = Report(out, args, command, append=args.append)
  log(f"{report.machine}; writing {report.md}")

  models = (args.models.split(",") if args.models else plan["models"]) if "a" in parts else []
  optimizers = args.optimizers.split(",") if args.optimizers else list(OPTIMIZERS)
  unknown = sorted(set(optimizers) - set(OPTIMIZERS))
  if unknown:
    parser.error(f"--optimizers: unknown {unknown}; choose from {', '.join(OPTIMIZERS)}")
  if "b" not in parts:
    plan = dict(plan, e2e_row_s=0.0)
  for i, model in enumerate(models):
    shapes = param_shapes(model, jnp.bfloat16)
    box = {"shapes": shapes, "dims": dimension_numbers(shapes)}
    box["remake"] = functools.partial(materialize, shapes, seeds.key(0, "params"), 0.02)
    box["params"] = box["remake"]()
    box["grads"] = materialize(shapes, seeds.key(0, "grads"), 1e-3)
    # The last model leaves room for part b (two compilations of a training step).
    reserve = plan["row_s"] + (2 * plan["e2e_row_s"] if i == len(models) - 1 else 0.0)
    for name in optimizers:
      settings = {"part": "a", "model": model, "dtype": "bfloat16", "gap": GAP,
                  "refresh_batch_size": args.refresh_batch_size}  # fmt: skip
      run_row(
        report,
        name,
        settings,
        lambda name=name, model=model, box=box: bench_step(
          name, model, box, args.repeats, args.refresh_batch_size
        ),
        deadline,
        reserve,
      )
    del box
    gc.collect()

  if "b" in parts:
    for name in ("adamw", "fira"):
      settings = {
        "part": "b", "model": plan["e2e_model"], "batch_size": batch, "seq_len": seq,
        "warmup": 3, "steps": 3 if args.smoke else 10, "dtype": "bfloat16 compute",
      }  # fmt: skip
      run_row(
        report,
        name,
        settings,
        lambda name=name, s=settings: bench_train(
          name, s["model"], s["batch_size"], s["seq_len"], s["warmup"], s["steps"]
        ),
        deadline,
        plan["e2e_row_s"],
      )
  log(f"done: {report.md}, {report.runs}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
