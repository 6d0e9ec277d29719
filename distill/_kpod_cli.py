"""The ``fira-jax kpod-compare`` command: KPOD against its ablations and baselines, several seeds,
written up as a Markdown report (the benchmark ``benchmarks/kpod_compare.py`` runs the same)."""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import pathlib
import platform
import shlex
import time

import numpy as np

from distill._kpod_experiment import METHODS, KPODConfig, prepare, train_method

# Paper (Feng et al., ICML 2024, Table 1), accuracy %: LLaMA-7B student.
PAPER = {
  "KPOD": {"GSM8K": 46.74, "ASDiv": 71.02, "SVAMP": 68.67, "CSQA": 77.89},
  "next best (MCC-KD)": {"GSM8K": 41.58, "ASDiv": 65.76, "SVAMP": 64.67, "CSQA": 76.41},
}
LABELS = {
  "answer_only": "answer only",
  "cot": "CoT distillation (uniform token loss)",
  "weighting": "token weighting only",
  "progressive": "progressive schedule only",
  "kpod": "KPOD (weighting + progressive)",
}


def _machine() -> str:
  """One line naming this process's machine: CPU, accelerator (if any) and library versions."""
  cpu = "unknown CPU"
  try:
    for line in open("/proc/cpuinfo", encoding="utf-8"):
      if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
  except OSError:
    pass
  import flax
  import jax
  import optax

  devices = jax.devices()
  accel = (
    "no GPU"
    if devices[0].platform == "cpu"
    else f"{len(devices)} × {devices[0].device_kind} (runs on it)"
  )
  return (
    f"{os.cpu_count()} CPU cores (`nproc` = {os.cpu_count()}), {cpu}, {accel}; "
    f"Python {platform.python_version()}, jax {jax.__version__}, flax {flax.__version__}, "
    f"optax {optax.__version__}"
  )


def _machines_line(results: list[dict], fallback: str, *, live: bool) -> str:
  """The report's machine sentence: the machines the results record (else ``fallback``).

  ``live`` (the report of a run in progress, not a merge) adds a warning when this machine's
  load average is above its core count, since the wall-clock times then are shared.
  """
  machines = sorted({r["machine"] for r in results if r.get("machine")})
  if fallback not in machines and (not machines or any(not r.get("machine") for r in results)):
    machines.append(fallback)
  line = "Machine: " + "; ".join(machines) + "."
  load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
  if live and load > (os.cpu_count() or 1):
    line += (
      " The machine was shared with other jobs (load average above the core count), so "
      "wall-clock times are indicative only."
    )
  return line


def _fmt(values: list[float]) -> str:
  a = 100 * np.asarray(values)
  return f"{a.mean():.1f} ± {a.std():.1f}"


def write_report(
  path: pathlib.Path,
  results: list[dict],
  cfg: KPODConfig,
  command: str,
  seconds: float | None,
  *,
  machine: str | None = None,
  merged: list[pathlib.Path] | None = None,
) -> None:
  """Writes the Markdown report of a comparison (tables of accuracy, curves, paper numbers).

  ``machine`` describes results that do not record their machine (default: this one);
  ``merged`` names the result files a report merges, when it was not run in one go.
  """
  methods = [m for m in LABELS if any(r["method"] == m for r in results)]
  seeds = sorted({r["seed"] for r in results})
  lines = [
    "# KPOD end to end on generated multi-step arithmetic problems",
    "",
    f"Command: `{command}`",
    "",
    _machines_line(results, machine or _machine(), live=merged is None),
    "",
    (
      f"Total wall time: {seconds / 60:.1f} min. Seeds: {seeds}."
      if merged is None
      else f"Merged from {len(merged)} result files, each run on its own "
      f"({', '.join(f'`{m.name}`' for m in merged)}); training time per run in the table. "
      f"Seeds: {seeds}."
    ),
    "",
    "Setup: student `fira_jax.models.Llama` "
    f"(d_model={cfg.d_model}, {cfg.num_layers} layers, {cfg.num_heads} heads, "
    f"ffn {cfg.ffn_dim}) trained from scratch, AdamW lr {cfg.learning_rate}, batch "
    f"{cfg.batch_size}, {cfg.epochs} epochs over {cfg.num_train} generated problems of "
    f"{cfg.problems.min_steps}-{cfg.problems.max_steps} steps (filler probability "
    f"{cfg.problems.filler_prob}, {cfg.problems.num_distractors} distractor sentence); "
    f"test: {cfg.num_test} problems in distribution, {cfg.num_ood} with "
    f"{cfg.problems.max_steps + 1}-{cfg.problems.max_steps + cfg.ood_extra_steps} steps "
    f"(longer chains). Progressive stages T = {cfg.num_stages} (one per epoch, then the "
    f"whole rationale); token weighting module: {cfg.weighting_steps} steps "
    f"({cfg.weighting_warmup} predictor warm-up) on {max(cfg.weighting_pool, cfg.num_train)} "
    f"problems (answer predictor {'frozen' if cfg.freeze_predictor else 'trained on'} after "
    f"the warm-up), {cfg.weighting_positions} positions in its self-attention, "
    f"α = {cfg.alpha}; K = {cfg.num_clusters} "
    f"clusters, β = {cfg.beta}, Δs = {cfg.delta_steps}. Greedy decoding, exact match of the "
    "final `#### N`.",
    "",
    "## Exact-match accuracy (%), mean ± std over seeds",
    "",
    "| method | in distribution | longer chains (OOD) | per seed (ID / OOD) | train s/run |",
    "|---|---|---|---|---|",
  ]
  for m in methods:
    rs = [r for r in results if r["method"] == m]
    per = ", ".join(f"{100 * r['accuracy']:.1f}/{100 * r['ood_accuracy']:.1f}" for r in rs)
    secs = np.mean([r["train_seconds"] for r in rs])
    lines.append(
      f"| {LABELS[m]} | {_fmt([r['accuracy'] for r in rs])} | "
      f"{_fmt([r['ood_accuracy'] for r in rs])} | {per} | {secs:.0f} |"
    )
  lines += [
    "",
    "## In-distribution accuracy (%) after each epoch "
    f"(first {cfg.curve_size} test problems, mean over seeds)",
    "",
    "| method | " + " | ".join(str(e + 1) for e in range(cfg.epochs)) + " |",
    "|---|" + "---|" * cfg.epochs,
  ]
  for m in methods:
    curves = np.asarray([r["curve"] for r in results if r["method"] == m])
    lines.append(f"| {LABELS[m]} | " + " | ".join(f"{100 * c:.0f}" for c in curves.mean(0)) + " |")
  stats = {r["seed"]: r["weight_stats"] for r in results if r.get("weight_stats")}
  if stats:
    lines += [
      "",
      "## Learned token weights (keep probability on the training rationales, mean ± std)",
      "",
      "Digits are split into operands, results (after an `=`) and the final result (after the "
      "last `=`, the number the answer repeats); counts in parentheses.",
      "",
      "| seed | all digits | operand digits | result digits | final-result digits "
      "| operators (`+ - * =`) | other tokens |",
      "|---|---|---|---|---|---|---|",
    ]
    for seed, st in sorted(stats.items()):
      cells = [
        f"{st[k][0]:.3f} ± {st[k][1]:.3f} ({st[k][2]:,})" if k in st else "–"
        for k in ("digit", "operand", "result", "final result", "operator", "other")
      ]
      lines.append(f"| {seed} | " + " | ".join(cells) + " |")
  lines += [
    "",
    "## The paper's reported numbers (accuracy %, LLaMA-7B student, GPT-3.5 teacher)",
    "",
    "| method | GSM8K | ASDiv | SVAMP | CSQA |",
    "|---|---|---|---|---|",
  ]
  for name, row in PAPER.items():
    lines.append(f"| {name} | " + " | ".join(f"{v:.2f}" for v in row.values()) + " |")
  gain = {k: PAPER["KPOD"][k] - PAPER["next best (MCC-KD)"][k] for k in PAPER["KPOD"]}
  lines += [
    "| gain | " + " | ".join(f"+{v:.2f}" for v in gain.values()) + " |",
    "",
    "The paper distils a pretrained 7B student from GPT-3.5 rationales on real benchmarks; "
    "here a tiny student learns arithmetic from scratch on synthetic rationales, so only the "
    "ordering of the methods is comparable, not the accuracies.",
    "",
    "Sample generation (KPOD, seed 0, first test problem): `"
    + next((r["sample"] for r in results if r["method"] == "kpod"), "n/a")
    + "`",
    "",
  ]
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text("\n".join(lines), encoding="utf-8")


# Options that override `KPODConfig` fields of the same name.
_OVERRIDES = (
  "num_train",
  "epochs",
  "alpha",
  "weighting_steps",
  "weighting_warmup",
  "weighting_positions",
)


def _merge(args: argparse.Namespace, cfg: KPODConfig, command: str) -> int:
  """``--merge``: one report (and ``.json``) from several runs' saved results."""
  results: list[dict] = []
  for path in args.merge:
    if not path.is_file():
      raise ValueError(f"--merge: no results file {path} (the .json a run writes beside --out)")
    try:
      loaded = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
      raise ValueError(f"--merge: {path} is not JSON ({e})") from None
    if not isinstance(loaded, list) or not all(
      isinstance(r, dict) and {"method", "seed", "accuracy", "curve"} <= r.keys() for r in loaded
    ):
      raise ValueError(f"--merge: {path} is not a kpod-compare results list")
    results += loaded
  counts = collections.Counter((r["seed"], r["method"]) for r in results)
  dup = sorted(k for k, n in counts.items() if n > 1)
  if dup:
    raise ValueError(f"--merge: (seed, method) {dup[0]} appears in more than one result")
  epochs = {len(r["curve"]) for r in results}
  if epochs != {cfg.epochs}:
    raise ValueError(
      f"--merge: the results were trained for {sorted(epochs)} epochs, the settings given say "
      f"{cfg.epochs}; pass the runs' own options (e.g. --epochs)"
    )
  order = {m: i for i, m in enumerate(METHODS)}
  results.sort(key=lambda r: (r["seed"], order.get(r["method"], len(order))))
  write_report(args.out, results, cfg, command, None, machine=args.machine, merged=args.merge)
  args.out.with_suffix(".json").write_text(json.dumps(results, indent=1), encoding="utf-8")
  return 0


def _command(args: argparse.Namespace) -> str:
  """The command line that reproduces ``args`` (output paths left out)."""
  parts = ["--seeds", *map(str, args.seeds), "--methods", *args.methods]
  parts += ["--smoke"] if args.smoke else []
  for name in _OVERRIDES:
    if getattr(args, name, None) is not None:
      parts += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
  if getattr(args, "merge", None):
    parts += ["--merge", *map(str, args.merge)]
    parts += ["--machine", args.machine] if args.machine else []
  return "fira-jax kpod-compare " + shlex.join(parts)


def add_arguments(parser: argparse.ArgumentParser) -> None:
  """Registers the command's options on ``parser``."""
  parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
  parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
  parser.add_argument("--num-train", type=int, default=None, help="generated training problems")
  parser.add_argument("--epochs", type=int, default=None)
  parser.add_argument(
    "--alpha", type=float, default=None, help="weight α of the mask-ratio loss (default 0.5)"
  )
  parser.add_argument(
    "--weighting-steps", type=int, default=None, help="token weighting module training steps"
  )
  parser.add_argument(
    "--weighting-warmup",
    type=int,
    default=None,
    help="of those, answer-predictor warm-up steps (no mask-ratio loss)",
  )
  parser.add_argument(
    "--weighting-positions",
    choices=("rotary", "none"),
    default=None,
    help="position information in the weighting module's self-attention (default rotary)",
  )
  parser.add_argument("--smoke", action="store_true", help="tiny settings (seconds)")
  parser.add_argument(
    "--out", type=pathlib.Path, default=pathlib.Path("kpod.md"), help="Markdown report"
  )
  parser.add_argument(
    "--metrics",
    type=pathlib.Path,
    default=None,
    help="JSONL of per-epoch metrics (default: next to --out)",
  )
  parser.add_argument("--quiet", action="store_true", help="no progress bars")
  parser.add_argument(
    "--merge",
    type=pathlib.Path,
    nargs="+",
    default=None,
    metavar="RESULTS_JSON",
    help="write the report from the .json results of earlier runs (e.g. one seed per process "
    "or machine, same settings) instead of training",
  )
  parser.add_argument(
    "--machine",
    default=None,
    help="with --merge: the machine of merged results that do not record one",
  )


def run(args: argparse.Namespace) -> int:
  """Runs the comparison and writes ``args.out`` (+ ``.json`` results, ``.jsonl`` metrics)."""
  for name in ("num_train", "epochs", "weighting_steps"):
    value = getattr(args, name, None)
    if value is not None and value < 1:
      raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
  warmup = getattr(args, "weighting_warmup", None)
  if warmup is not None and warmup < 0:
    raise ValueError(f"--weighting-warmup must be >= 0, got {warmup}")
  if args.alpha is not None and not args.alpha >= 0:
    raise ValueError(f"--alpha must be >= 0, got {args.alpha}")
  cfg = KPODConfig.smoke() if args.smoke else KPODConfig()
  overrides = {k: getattr(args, k) for k in _OVERRIDES if getattr(args, k, None) is not None}
  cfg = dataclasses.replace(cfg, **overrides)
  if cfg.weighting_warmup >= cfg.weighting_steps:
    raise ValueError(
      f"--weighting-warmup ({cfg.weighting_warmup}) must be smaller than --weighting-steps "
      f"({cfg.weighting_steps}): the masks learn only after the warm-up"
    )
  command = getattr(args, "command_line", None) or _command(args)
  if getattr(args, "merge", None):
    return _merge(args, cfg, command)
  metrics = args.metrics or args.out.with_suffix(".metrics.jsonl")
  metrics.parent.mkdir(parents=True, exist_ok=True)
  results, t0, machine = [], time.perf_counter(), _machine()
  with open(metrics, "w", encoding="utf-8") as mf:
    for seed in args.seeds:
      prep = prepare(cfg, seed, progress=not args.quiet)
      for method in args.methods:
        r = train_method(method, prep, cfg, seed, progress=not args.quiet, metrics_file=mf)
        print(
          f"seed {seed} {method}: in-distribution {r['accuracy']:.3f}, "
          f"longer chains {r['ood_accuracy']:.3f}",
          flush=True,
        )
        r["weight_stats"] = prep.weight_stats
        r["machine"] = machine
        results.append({k: v for k, v in r.items() if k != "losses"})
        write_report(args.out, results, cfg, command, time.perf_counter() - t0, machine=machine)
  args.out.with_suffix(".json").write_text(json.dumps(results, indent=1), encoding="utf-8")
  return 0
