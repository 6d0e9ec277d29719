"""KPOD against CoT distillation from a pretrained student (issue 23's comparison).

Three phases, each resumable (a run already in its runs file is skipped):

0. ``probe`` (the student's arithmetic on single equations) and ``zeroshot`` (its exact match
   on each seed's test problems before any distillation, a row of ``<out>_runs.jsonl``).
1. ``weighting``: builds the pretrained student (a ``fira-jax train`` run folder, ``--student``)
   and trains KPOD's token weighting module once on its embedding (seed 0's pool); the module
   is pickled to ``<work>/weighting.pkl`` and reused by every later run, so that all seeds
   distil with the same keypoint weights and only the data and batch order vary.
2. ``tune``: per method and learning rate, one run of ``--tune-epochs`` epochs whose curve is
   the exact match on ``--num-val`` validation problems (their own random stream) after every
   epoch; the runs go to ``<out>_tune_runs.jsonl``.
3. ``seeds``: per seed, CoT and KPOD at their tuned learning rate and epochs
   (``--cot LR EPOCHS``, ``--kpod LR EPOCHS``; the ablations with ``--weighting-only`` and
   ``--progressive``), evaluated in distribution, on longer chains and on GSM8K test / SVAMP
   (the first ``--external`` problems whose question fits the context); the runs go to
   ``<out>_runs.jsonl``. With ``--from-teacher`` every method distils on the teacher's
   rationales (below) instead of the generator's, under labels ending in ``", teacher"``.

``teacher``: CoT-trains a teacher (``--teacher-student``, a ``fira-jax train`` run folder,
default the student's; ``--teacher LR EPOCHS`` on ``--teacher-train`` problems of its own
stream), records its exact match, then writes its greedy rationales for each seed's training
problems (``--teacher-keep``: only those ending in the right answer, or all) to
``<work>/teacher/seed<s>.json``; one record per seed (the teacher's accuracy on those problems,
kept fraction, right equations) goes to ``<out>_teacher_runs.jsonl``.

Run (from the repository root, after pretraining, see ``benchmarks/results/distill/kpod.md``):
  PYTHONPATH=. python benchmarks/distill/kpod_pretrained.py --phase weighting tune \\
    --student runs/kpod_pretrain/student
  PYTHONPATH=. python benchmarks/distill/kpod_pretrained.py --phase seeds --seeds 0 1 2 \\
    --cot 0.001 3 --kpod 0.001 3 --student runs/kpod_pretrain/student
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import pickle
import sys
import time

from distill.kpod import (
  TEACHER_KEEP,
  KPODConfig,
  MathProblem,
  Prepared,
  load_gsm8k,
  load_pretrained_student,
  load_svamp,
  prepare,
  problem_sets,
  problem_tokenizer,
  teacher_rationales,
  train_method,
)
from fira_jax.lab.machine import describe_machine
from fira_jax.lab.results import append_run, command_line, make_record, markdown_table, read_runs
from fira_jax.lab.stats import fmt_pm, paired_delta

DATA = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "data"
RESULTS = pathlib.Path("benchmarks/results/distill")


def base_config(args: argparse.Namespace) -> KPODConfig:
  """The comparison's settings (student shape fields are the pretrained run's, not these)."""
  return KPODConfig(
    num_train=args.num_train,
    num_test=args.num_test,
    num_ood=args.num_test,
    batch_size=32,
    weighting_steps=args.weighting_steps,
    weighting_warmup=args.weighting_warmup,
    alpha=0.05,
    curve_size=16,
    weighting_select=args.weighting_select,
    weighting_val=args.weighting_val,
    weighting_hide_answer=args.weighting_hide_answer,
  ).keypoint_weighting(0.5)


def external_tests(tok, max_len: int, n: int) -> dict:
  """GSM8K test and SVAMP: the first ``n`` problems whose prompt leaves 40 tokens of room."""
  out = {}
  for name, problems in (
    ("gsm8k", load_gsm8k(DATA / "gsm8k", split="test")),
    ("svamp", load_svamp(DATA / "svamp")),
  ):
    room = 40
    fits = [p for p in problems if len(tok.encode(p.question)) + 2 + room <= max_len][:n]
    longest = max(len(tok.encode(p.question)) + 2 for p in fits)
    out[name] = (fits, int(-(-(longest + room) // 8) * 8))
  return out


def weighting(args, cfg: KPODConfig, student_fn, tok) -> Prepared:
  path = args.work / "weighting.pkl"
  if path.exists():
    with path.open("rb") as f:
      return pickle.load(f)
  t0 = time.perf_counter()
  prep = prepare(cfg, 0, student_fn=student_fn, tokenizer=tok, progress=not args.quiet)
  keep = dataclasses.replace(prep, init_state=None, graphdef=None)
  args.work.mkdir(parents=True, exist_ok=True)
  with path.open("wb") as f:
    pickle.dump(keep, f)
  record = {
    "label": "pretrained student (budget 0.5, whole, random-mask warm-up, "
    f"step selected on the held-out objective: {cfg.weighting_select}"
    + (", final result hidden from the module)" if cfg.weighting_hide_answer else ")"),
    "seed": 0,
    "weighting_step": prep.weighting_step,
    "settings": cfg.to_dict(),
    "student": str(args.student),
    "trace": prep.weight_trace,
    "weight_stats": prep.weight_stats,
    "seconds": time.perf_counter() - t0,
  }
  with (args.results / f"{args.name}_weights.jsonl").open("a", encoding="utf-8") as f:
    f.write(json.dumps(record) + "\n")
  print(json.dumps({"step": prep.weighting_step, **prep.weight_stats}), flush=True)
  return keep


def done(path: pathlib.Path) -> set[tuple[str, int]]:
  if not path.exists():
    return set()
  return {(r["method"], r["seed"]) for r in read_runs(path, duplicates="keep")}


def run_one(args, method, seed, cfg, student_fn, tok, shared, path, *, extra=None, label=None):
  rationales = load_rationales(args.work, seed) if args.from_teacher else None
  prep = prepare(
    cfg,
    seed,
    student_fn=student_fn,
    tokenizer=tok,
    weighting_from=shared,
    progress=False,
    rationales=rationales,
  )
  tests = external_tests(tok, args.context, args.external) if extra else None
  r = train_method(method, prep, cfg, seed, progress=not args.quiet, extra_tests=tests)
  metrics = {k: v for k, v in r.items() if k not in ("method", "seed", "losses")}
  metrics["weight_stats"] = prep.weight_stats
  metrics["weighting_step"] = prep.weighting_step
  settings = {**cfg.to_dict(), "student": str(args.student)}
  if tests:
    settings["external"] = {k: len(v[0]) for k, v in tests.items()}
  record = make_record(
    label or method, seed, settings, metrics, command=command_line(), machine=describe_machine()
  )
  append_run(path, record)
  print(
    f"{label or method} seed {seed}: ID {r['accuracy']:.2f} OOD {r['ood_accuracy']:.2f} "
    f"curve {r['curve']} {r['train_seconds']:.0f} s",
    flush=True,
  )


TEACHER_SEED = 1000  # the teacher's own problem streams (no comparison seed uses them)


def rationales_path(work: pathlib.Path, seed: int) -> pathlib.Path:
  return work / "teacher" / f"seed{seed}.json"


def load_rationales(work: pathlib.Path, seed: int) -> list[MathProblem]:
  """Seed ``seed``'s training problems with the teacher's rationales (``--phase teacher``)."""
  path = rationales_path(work, seed)
  if not path.exists():
    raise FileNotFoundError(f"--from-teacher: no {path}; run --phase teacher for seed {seed}")
  rows = json.loads(path.read_text(encoding="utf-8"))
  return [MathProblem(q, tuple(steps), a) for q, steps, a in rows]


def teacher(args, cfg: KPODConfig, tok, shared: Prepared) -> None:
  """CoT-trains the teacher on its own problems, then writes its rationales for each seed's
  training problems (seeds already written are skipped; the teacher trains only if needed)."""
  todo = [s for s in args.seeds if not rationales_path(args.work, s).exists()]
  if not todo:
    return
  lr, epochs = args.teacher
  tcfg = dataclasses.replace(
    cfg, num_train=args.teacher_train, learning_rate=lr, epochs=int(epochs), num_val=args.num_val
  )
  teacher_fn = load_pretrained_student(args.teacher_student or args.student)
  prep = prepare(
    tcfg, TEACHER_SEED, student_fn=teacher_fn, tokenizer=tok, weighting_from=shared, progress=False
  )
  r = train_method("cot", prep, tcfg, TEACHER_SEED, progress=not args.quiet, return_model=True)
  model = r.pop("model")
  path = args.results / f"{args.name}_teacher_runs.jsonl"
  settings = {
    **tcfg.to_dict(),
    "teacher_student": str(args.teacher_student or args.student),
    "keep": args.teacher_keep,
  }
  own = {k: r[k] for k in ("accuracy", "ood_accuracy", "val_curve", "step_arithmetic", "sample")}
  own["train_seconds"] = r["train_seconds"]
  append_run(
    path, make_record("teacher training", TEACHER_SEED, settings, own, command=command_line())
  )
  print(
    f"teacher: ID {r['accuracy']:.2f} OOD {r['ood_accuracy']:.2f} curve {r['curve']}", flush=True
  )
  for seed in todo:
    train, *_ = problem_sets(cfg, seed)
    kept, stats = teacher_rationales(
      model, tok, train, max_len=args.context, keep=args.teacher_keep
    )
    out = rationales_path(args.work, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps([[p.question, list(p.steps), p.answer] for p in kept]), "utf-8")
    tmp.replace(out)  # atomic: a stopped phase leaves no half-written seed
    record = make_record("teacher rationales", seed, settings, stats, command=command_line())
    append_run(path, record)
    print(f"teacher rationales seed {seed}: {json.dumps(stats)}", flush=True)


def probe(args, tok, student_fn, n: int = 200) -> dict:
  """The pretrained student's arithmetic: greedy completion of ``x op b =`` for ``n`` equations
  of the generator's operations (a fresh stream), exact match of the result, per operation."""
  import numpy as np  # noqa: PLC0415

  from distill.kpod import CorpusConfig, greedy_generate, pretraining_corpus  # noqa: PLC0415
  from fira_jax.lab import seeds  # noqa: PLC0415
  from fira_jax.lab.checkpoint import Checkpointer  # noqa: PLC0415

  # Single-equation documents of the corpus's own kind, from a stream of the probe's.
  one_equation = CorpusConfig(num_docs=n, lines_per_doc=1, equation_frac=1.0, chain_frac=0.0)
  eqs = pretraining_corpus(one_equation, seed=seeds.seed_int(0, "arithmetic-probe"))
  model = student_fn(tok.vocab_size, 32, None, 0)
  lhs = [e.split("=")[0] + "=" for e in eqs]
  prompts = [[tok.vocab_size, *tok.encode(x)] for x in lhs]  # after an end-of-document id
  out = greedy_generate(model, prompts, max_len=24, eos_id=tok.stoi["."], pad_id=tok.pad_id)
  got = [tok.decode(g).strip(" .") for g in out]
  right = {op: [] for op in "+-*"}
  for e, g in zip(eqs, got, strict=True):
    right[e.split()[1]].append(g == e.split("=")[1].strip(" ."))
  result = {op: float(np.mean(v)) for op, v in right.items() if v}
  result["all"] = float(np.mean([x for v in right.values() for x in v]))
  result["examples"] = [f"{x} {g}" for x, g in zip(lhs[:5], got[:5], strict=True)]
  print(json.dumps(result), flush=True)
  with (args.results / f"{args.name}_weights.jsonl").open("a", encoding="utf-8") as f:
    record = {
      "label": "arithmetic probe",
      "student": str(args.student),
      "step": Checkpointer(args.student.absolute()).latest_step(),
      **result,
    }
    f.write(json.dumps(record) + "\n")
  return result


def zeroshot(args, cfg: KPODConfig, tok, student_fn) -> None:
  """The pretrained student before any distillation: exact match of its greedy generations on
  each seed's in-distribution and longer-chain test problems (the same ones ``seeds`` tests)."""
  import numpy as np  # noqa: PLC0415

  from distill.kpod import equation_errors, evaluate_exact_match, problem_sets  # noqa: PLC0415

  path = args.results / f"{args.name}_runs.jsonl"
  have = done(path)
  model = student_fn(tok.vocab_size, args.context, cfg, 0)
  for seed in args.seeds:
    if (ZEROSHOT, seed) in have:
      continue
    _, test, ood, _ = problem_sets(cfg, seed)  # the streams `seeds` tests on
    acc, texts = evaluate_exact_match(model, tok, test, max_len=args.context)
    ood_acc, _ = evaluate_exact_match(model, tok, ood, max_len=args.context)
    wrong, total = np.sum([equation_errors(t) for t in texts], axis=0)
    metrics = {
      "accuracy": acc,
      "ood_accuracy": ood_acc,
      "step_arithmetic": float(1 - wrong / max(total, 1)),
      "sample": texts[0],
    }
    settings = {**cfg.to_dict(), "student": str(args.student)}
    record = make_record(
      ZEROSHOT, seed, settings, metrics, command=command_line(), machine=describe_machine()
    )
    append_run(path, record)
    print(f"pretrained seed {seed}: ID {acc:.2f} OOD {ood_acc:.2f}", flush=True)


ZEROSHOT = "pretrained, no distillation"
HIDDEN = "kpod, answer hidden"  # KPOD with the module of KPODConfig.weighting_hide_answer
# The ablations (train_method's "weighting": token weights, no schedule; "progressive": the
# schedule from unweighted difficulties, no token weights), named as in the tables.
ABLATIONS = {"weighting": "weighting only", "progressive": "progressive only"}
METHOD_FLAGS = (  # (train_method's method, the flag giving its LR and epochs)
  ("cot", "cot"),
  ("kpod", "kpod"),
  ("weighting", "weighting_only"),
  ("progressive", "progressive"),
)
DISTILLED = ("kpod", HIDDEN, "weighting only", "weighting only, answer hidden", "progressive only")
TAUGHT = tuple(f"{m}, teacher" for m in ("cot", *DISTILLED))  # on the teacher's rationales


def label_of(method: str, cfg: KPODConfig, from_teacher: bool = False) -> str:
  """A method's name in the runs files: KPOD and the weighting ablation with the hidden-answer
  module get ``", answer hidden"`` (CoT and progressive only do not read the weights); runs on
  the teacher's rationales end in ``", teacher"``."""
  name = {"kpod": "kpod", **ABLATIONS}.get(method, method)
  hidden = cfg.weighting_hide_answer and method in ("kpod", "weighting")
  name = f"{name}, answer hidden" if hidden else name
  return f"{name}, teacher" if from_teacher else name


def seed_plan(args: argparse.Namespace, cfg: KPODConfig) -> list[tuple[str, tuple, str]]:
  """``(method, (lr, epochs), label)`` for every method whose flag is given; with the
  hidden-answer module only the methods that read the weights run (beside the default
  module's runs in the same file, under their own names)."""
  plan = [
    (method, getattr(args, flag), label_of(method, cfg, getattr(args, "from_teacher", False)))
    for method, flag in METHOD_FLAGS
    if getattr(args, flag) is not None
    and (not cfg.weighting_hide_answer or method in ("kpod", "weighting"))
  ]
  if not plan:
    flags = ", ".join(f"--{flag.replace('_', '-')}" for _, flag in METHOD_FLAGS)
    raise ValueError(f"--phase seeds needs at least one of {flags} (LR EPOCHS) to run")
  return plan


COLUMNS = (
  ("accuracy", "in distribution"),
  ("ood_accuracy", "longer chains"),
  ("gsm8k_accuracy", "GSM8K test"),
  ("svamp_accuracy", "SVAMP"),
  ("step_arithmetic", "right equations"),
)
KIND_COLUMNS = ("operand", "result", "final result", "+ - *", "=", "other")


TRACE_COLUMNS = ("digit", "final result", "+ - *", "=", "other", "val_any", "val_whole")


def weights_report(path: pathlib.Path) -> list[str]:
  """The arithmetic probes and the weighting module's trace (mean keep probability per token
  kind and the held-out objectives every ``trace_every`` steps; the step in use marked)."""
  if not path.exists():
    return []
  records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
  out = []
  probes = [r for r in records if r.get("label") == "arithmetic probe"]
  if probes:
    rows = [
      [r.get("step", ""), *(f"{100 * r[k]:.1f}" for k in ("all", "+", "-", "*"))] for r in probes
    ]
    out += [
      "Arithmetic probe (greedy `x op b =` on 200 fresh equations, % right):",
      "",
      markdown_table(["pretraining step", "all", "+", "-", "*"], rows),
      "",
    ]
  for r in records:
    if not r.get("trace"):
      continue
    used = r.get("weighting_step")
    rows = [
      [f"**{t['step']}** (used)" if t["step"] == used else t["step"]]
      + [f"{t[k]:.3f}" if k in t else "" for k in TRACE_COLUMNS]
      for t in r["trace"]
    ]
    out += [
      f"Keep probability per token kind along training ({r['label']}; `val_*`: the held-out "
      "objective, answer scored on prefixes of any length / on the whole rationale):",
      "",
      markdown_table(["step", *TRACE_COLUMNS], rows),
      "",
    ]
  return out


def _delta_row(by: dict, method: str, ref: str) -> list | None:
  """``method − ref`` paired over their common seeds, per column (None without any)."""
  paired = sorted(set(by[ref]) & set(by[method]))
  if not paired:
    return None
  row = [f"{method} − {ref}, paired (95% interval)", len(paired)]
  for k, _ in COLUMNS:
    if all(k in by[x][s] for x in (method, ref) for s in paired):
      d = paired_delta([by[method][s][k] for s in paired], [by[ref][s][k] for s in paired])
      row.append(d.fmt(1, scale=100))
    else:
      row.append("")
  return row


def report(args) -> str:
  """Markdown tables of the tuning runs, the seeds (mean ± std, KPOD − CoT paired) and the
  keep probabilities per token kind."""
  out = weights_report(args.results / f"{args.name}_weights.jsonl")
  tune_path = args.results / f"{args.name}_tune_runs.jsonl"
  if tune_path.exists():
    rows = []
    for r in read_runs(tune_path, duplicates="last"):
      curve = r["metrics"].get("val_curve", [])
      rows.append(
        [
          r["method"],
          " / ".join(f"{100 * c:.1f}" for c in curve),
          f"{r['metrics']['train_seconds']:.0f}",
        ]
      )
    out += [
      "Validation exact match (%) after each epoch (tuning, seed 0):",
      "",
      markdown_table(["method @ learning rate", "epoch 1 / 2 / …", "s"], rows),
      "",
    ]
  path = args.results / f"{args.name}_runs.jsonl"
  if path.exists():
    runs = read_runs(path)
    names = (ZEROSHOT, "cot", *DISTILLED, *TAUGHT)
    by = {m: {r["seed"]: r["metrics"] for r in runs if r["method"] == m} for m in names}
    seeds = sorted(set(by["cot"]) & set(by["kpod"]))
    rows = []
    for m in (n for n in names if by[n]):
      cells = [[x[k] for x in by[m].values() if k in x] for k, _ in COLUMNS]
      rows.append([m, len(by[m])] + [fmt_pm(c, scale=100, digits=1) if c else "" for c in cells])
    pairs = [(m, "cot") for m in DISTILLED] + [(m, "kpod") for m in DISTILLED[1:]]
    pairs += [(m, "cot, teacher") for m in TAUGHT[1:]] + [("cot, teacher", "cot")]
    deltas = [row for m, ref in pairs if (row := _delta_row(by, m, ref))]
    out += [
      "Exact match (%), mean ± std over seeds:",
      "",
      markdown_table(["method", "seeds", *(c for _, c in COLUMNS)], rows + deltas),
      "",
      "Per seed (in distribution, CoT / KPOD): "
      + ", ".join(
        f"{s}: {100 * by['cot'][s]['accuracy']:.0f} / {100 * by['kpod'][s]['accuracy']:.0f}"
        for s in seeds
      ),
      "",
    ]
    rows = []
    for s in seeds:
      st = by["kpod"][s]["weight_stats"]
      rows.append(
        [s] + [f"{st[k][0]:.3f} ± {st[k][1]:.3f}" if k in st else "" for k in KIND_COLUMNS]
      )
    out += [
      "Keep probability per token kind on each seed's training rationales (mean ± std):",
      "",
      markdown_table(["seed", *KIND_COLUMNS], rows),
      "",
    ]
  return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument(
    "--phase",
    nargs="+",
    choices=("probe", "zeroshot", "weighting", "teacher", "tune", "seeds", "report"),
    required=True,
  )
  parser.add_argument("--student", type=pathlib.Path, required=True)
  parser.add_argument("--work", type=pathlib.Path, default=pathlib.Path("runs/kpod_pretrained"))
  parser.add_argument("--name", default="kpod_pretrained")
  parser.add_argument("--results", type=pathlib.Path, default=RESULTS, help="runs files folder")
  parser.add_argument("--num-train", type=int, default=1000)
  parser.add_argument("--num-test", type=int, default=100, help="test and longer-chain problems")
  parser.add_argument("--weighting-steps", type=int, default=900)
  parser.add_argument("--weighting-warmup", type=int, default=500)
  parser.add_argument(
    "--weighting-select",
    choices=("last", "any", "whole"),
    default="any",
    help="the weighting module's step: the last, or the lowest held-out objective (prefixes "
    "of any length, or the whole rationale)",
  )
  parser.add_argument(
    "--weighting-val",
    type=int,
    default=256,
    help="held-out problems of the module's step selection (0: none; needs --weighting-select "
    "last)",
  )
  parser.add_argument(
    "--weighting-hide-answer",
    action="store_true",
    help="train the weighting module on rationales without their final result "
    "(KPODConfig.weighting_hide_answer)",
  )
  parser.add_argument("--tune-lrs", type=float, nargs="+", default=[1e-3, 3e-3])
  parser.add_argument("--tune-epochs", type=int, default=4)
  parser.add_argument("--num-val", type=int, default=64)
  parser.add_argument("--tune-methods", nargs="+", default=["cot", "kpod"])
  parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
  parser.add_argument("--cot", type=float, nargs=2, metavar=("LR", "EPOCHS"))
  parser.add_argument("--kpod", type=float, nargs=2, metavar=("LR", "EPOCHS"))
  parser.add_argument(
    "--weighting-only", type=float, nargs=2, metavar=("LR", "EPOCHS"),
    help="the ablation with KPOD's token weights and no progressive schedule",
  )  # fmt: skip
  parser.add_argument(
    "--progressive", type=float, nargs=2, metavar=("LR", "EPOCHS"),
    help="the ablation with the progressive schedule and no token weights",
  )  # fmt: skip
  parser.add_argument("--external", type=int, default=32)
  parser.add_argument(
    "--from-teacher",
    action="store_true",
    help="distil on the teacher's rationales (written by --phase teacher) in the seeds phase",
  )
  parser.add_argument("--teacher", type=float, nargs=2, metavar=("LR", "EPOCHS"))
  parser.add_argument("--teacher-student", type=pathlib.Path, help="default: --student")
  parser.add_argument("--teacher-train", type=int, default=4000)
  parser.add_argument("--teacher-keep", choices=TEACHER_KEEP, default="correct")
  parser.add_argument("--quiet", action="store_true")
  args = parser.parse_args(argv)
  if args.phase == ["report"]:
    print(report(args))
    return 0
  cfg = base_config(args)
  tok = problem_tokenizer()
  student_fn = load_pretrained_student(args.student)
  args.context = min(256, student_fn(tok.vocab_size, 8, cfg, 0).config.max_seq_len)
  if "probe" in args.phase:
    probe(args, tok, student_fn)
  if "zeroshot" in args.phase:
    zeroshot(args, cfg, tok, student_fn)
  if set(args.phase) <= {"probe", "zeroshot"}:
    return 0
  shared = weighting(args, cfg, student_fn, tok)
  if "teacher" in args.phase:
    if args.teacher is None:
      parser.error("--phase teacher needs --teacher LR EPOCHS")
    teacher(args, cfg, tok, shared)
  if "tune" in args.phase:
    path = args.results / f"{args.name}_tune_runs.jsonl"
    have = done(path)
    for lr in args.tune_lrs:
      for method in args.tune_methods:
        label = f"{label_of(method, cfg, args.from_teacher)}@lr={lr:g}"
        if (label, 0) in have:
          continue
        tcfg = dataclasses.replace(
          cfg,
          learning_rate=lr,
          epochs=args.tune_epochs,
          num_val=args.num_val,
          curve_size=args.num_val,
          # Tuning reads only the validation curve; the test splits are shrunk to save time.
          num_test=16,
          num_ood=16,
        )
        run_one(args, method, 0, tcfg, student_fn, tok, shared, path, label=label)
  if "seeds" in args.phase:
    path = args.results / f"{args.name}_runs.jsonl"
    have = done(path)
    plan = seed_plan(args, cfg)
    for seed in args.seeds:
      for method, (lr, epochs), label in plan:
        if (label, seed) in have:
          continue
        scfg = dataclasses.replace(cfg, learning_rate=lr, epochs=int(epochs))
        run_one(args, method, seed, scfg, student_fn, tok, shared, path, extra=True, label=label)
  if "report" in args.phase:
    print(report(args))
  return 0


if __name__ == "__main__":
  sys.exit(main())
