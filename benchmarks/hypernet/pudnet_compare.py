"""PudNet vs training from scratch: the grid of settings, written as runs and a markdown table.

Each finished run is appended at once to a runs file (one JSON line per (column, method, seed));
``pudnet.md`` is rendered from the runs files (``--report-only`` renders without running).

Grid mode (``--grid gpu|cpu``): one meta-training per (dataset, classes, method, seed) serves
every column it can (a hypernetwork meta-trained on all MNIST classes is evaluated on MNIST
intra and on MNIST → digits), seed 0 of every column first, then the other seeds, then the
dataset-blind control and the ablations. A wall-clock ``--budget-s`` (counted from the start
of the process) skips a piece whose estimated time (its measured time at an earlier seed, or
that of a like piece) no longer fits, and records the skip. GPU command (data step included)::

  python benchmarks/hypernet/make_device_data.py --out .device_data && \\
  PYTHONPATH=. python benchmarks/hypernet/pudnet_compare.py --grid gpu --budget-s 230 \\
    --data-dir .device_data --out-dir "$OUT" --no-progress

CPU (reduced scale, MNIST columns) and a smoke test of the grid driver::

  PYTHONPATH=. nice -n 10 python benchmarks/hypernet/pudnet_compare.py --grid cpu \\
    --budget-s 3000 --data-dir ../shared/data
  PYTHONPATH=. python benchmarks/hypernet/pudnet_compare.py --grid gpu --smoke \\
    --data-dir ../shared/data --out-dir /tmp/pudnet_smoke --columns mnist:intra mnist:inter

Single columns (``PudNetConfig`` fields by ``--set``)::

  PYTHONPATH=. python benchmarks/hypernet/pudnet_compare.py --data-dir ../shared/data --smoke
  PYTHONPATH=. python benchmarks/hypernet/pudnet_compare.py --data-dir ../shared/data \\
    --seeds 3 --meta-steps 2000 --num-eval-tasks 200
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import pathlib
import sys
import time

T0 = time.perf_counter()  # the budget counts from here (imports and compilation included)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from fira_jax.lab import (  # noqa: E402
  NNXTrainer,
  append_run,
  describe_machine,
  fmt_pm,
  make_record,
  mean_std,
  paired_by_key,
  read_runs,
)
from fira_jax.lab.results import (  # noqa: E402
  command_line,
  field,
  markdown_table,
  to_jsonable,
  write_runs,
)
from hypernet import (  # noqa: E402
  Experiment,
  ImageSet,
  PudNetConfig,
  build_pudnet,
  load_dataset,
  make_pool,
  meta_loss_fn,
  meta_optimizer,
  meta_train,
  predict,
  sample_episode,
  timed,
)

OUT = pathlib.Path(__file__).resolve().parents[1] / "results" / "hypernet"
COLUMNS = [
  ("mnist", "intra", "MNIST intra"),
  ("mnist", "intra-disjoint", "MNIST intra-disjoint"),
  ("mnist", "inter", "MNIST → digits"),
  ("cifar10", "intra", "CIFAR-10 intra"),
  ("cifar10", "intra-disjoint", "CIFAR-10 intra-disjoint"),
  ("cifar10", "inter", "CIFAR-10 → Colored-MNIST"),
]
# method -> config overrides (pudnet runs the baselines too)
VARIANTS = {
  "pudnet": {},
  "ghn_lite": {"conditioning": "blind", "baselines": False},
  "no_ahru": {"ahru": False, "baselines": False},
  "no_sketch_mix": {"skt_a": 0.0, "baselines": False},
  "weight_norm_none": {"weight_norm": "none", "baselines": False},
}
ABLATIONS = ("no_ahru", "no_sketch_mix", "weight_norm_none")
# One meta-training per (dataset, classes): all classes serve intra and inter, 0-5 serves
# intra-disjoint.
GROUPS = [
  ("mnist", ("intra", "inter")),
  ("cifar10", ("intra", "inter")),
  ("mnist", ("intra-disjoint",)),
  ("cifar10", ("intra-disjoint",)),
]
# Equal evaluation shapes in every column of a target: 80 + 80 images per class (digits has
# 174 in its smallest class), pools cut to 170 per class, so intra and inter share programs.
_EVAL = {"n_train": 80, "n_test": 80, "eval_pool_per_class": 170}
GRIDS = {
  # H200 (~4 min): 12 meta-trainings of 400 vmapped steps x 8 episodes, 50 sub-datasets per
  # column, scratch@50 on all of them at once.
  "gpu": {
    "seeds": 3,
    "methods": list(VARIANTS),
    "set": {
      "episode_map": "vmap",
      "meta_steps": 400,
      "meta_batch": 8,
      "num_eval_tasks": 50,
      "scratch_epochs": 50,
      "finetune_epochs": 5,
      "timing_repeats": 10,
      "log_every": 100,
      "checkpoint_every": 0,
      **_EVAL,
    },
  },  # fmt: skip
  # The 2-core CPU, reduced scale: small hypernetwork, short meta-training, 8 sub-datasets.
  "cpu": {
    "seeds": 3,
    "methods": list(VARIANTS),
    # Net-B is costly on XLA:CPU: 30 meta-steps take about 1.5 CPU-min; hence half the
    # meta-steps and 4 sub-datasets of 20 training images per class. (Its scratch and
    # fine-tuning epochs cost 0.2 CPU-s since the target's gradient convolutions are written
    # in XLA:CPU's fast layout; before, 7 CPU-s, and a column's evaluation took over 14 CPU-min.)
    "dataset_set": {"cifar10": {"meta_steps": 30, "num_eval_tasks": 4, "n_train": 20}},
    "set": {
      "d": 32,
      "h": 4,
      "meta_steps": 60,
      "meta_batch": 4,
      "num_eval_tasks": 8,
      "scratch_epochs": 50,
      "finetune_epochs": 5,
      "timing_repeats": 3,
      "log_every": 10,
      "checkpoint_every": 0,
      "n_train": 40,
      "n_test": 40,
      "eval_pool_per_class": 170,
    },
  },  # fmt: skip
}
SMOKE = {
  "d": 8, "h": 2, "meta_steps": 4, "meta_batch": 2, "num_eval_tasks": 2, "n_support": 2,
  "n_query": 2, "n_train": 4, "n_test": 2, "scratch_epochs": 2, "finetune_epochs": 1,
  "timing_repeats": 1, "log_every": 2, "eval_pool_per_class": 10,
}  # fmt: skip
GRID_TITLES = {
  "gpu": "GPU grid (the issue's columns, 3 meta-training seeds)",
  "cpu": "CPU reduced-scale run (2-core shared CPU; NOT the issue's scale: small hypernetwork, "
  "60 meta-steps on MNIST and 30 on CIFAR-10, 8 and 4 sub-datasets)",
  "default": "Runs by column",
}
PAPER = (
  "Paper (TIP 2024 abstract, ResNet-18 on ImageNet-1K): one forward pass, top-5 44.92% in "
  "3.89 GPU-s, vs training from scratch top-5 44.65% after 8,967 GPU-s (> 2,300× faster). "
  "The paper's tables were not reachable: no per-dataset number to put beside ours."
)


def _overrides(args) -> dict:
  over = {
    k: v for k, v in (("meta_steps", args.meta_steps), ("num_eval_tasks", args.num_eval_tasks)) if v
  }
  for item in args.set or []:
    name, _, value = item.partition("=")
    try:
      over[name] = json.loads(value)
    except json.JSONDecodeError:
      over[name] = value
  return over


def run_columns(args) -> None:
  """One :class:`Experiment` per column and method, each seed meta-trained for that column."""
  base = PudNetConfig.smoke() if args.smoke else PudNetConfig()
  over = _overrides(args)
  cmd = command_line(prog="benchmarks/hypernet/pudnet_compare.py")
  for dataset, setting, _ in COLUMNS:
    if args.columns and f"{dataset}:{setting}" not in args.columns:
      continue
    for method in args.methods:
      cfg = dataclasses.replace(
        base, dataset=dataset, setting=setting, method=method, **over, **VARIANTS[method]
      )
      exp = Experiment(cfg, args.data_dir)
      for seed in range(args.seeds):
        metrics = exp.run(seed, progress=not args.no_progress)
        print(
          f"{dataset} {setting} {method} seed {seed}: pudnet {metrics['pudnet_acc']:.4f}",
          flush=True,
        )
        append_run(args.runs, make_record(method, seed, exp.settings(), metrics, command=cmd))


class Budget:
  """Wall-clock seconds left of ``total`` since the process started, and per-piece estimates.

  A piece is one meta-training and its evaluations. A repeat (another seed of a method and
  group already run) is estimated from the last run: its time, or for the first (compiling)
  run its meta-training time after compilation plus a tenth of the rest (at most 10 s). A
  first run is estimated by the first runs of the same method on other groups, else by
  ``pudnet``'s first run on the same group, else 0 (always tried).
  """

  def __init__(self, total: float | None):
    self.total = total
    self.first: dict[tuple[str, int], float] = {}
    self.repeat: dict[tuple[str, int], float] = {}

  def left(self) -> float:
    return float("inf") if self.total is None else self.total - (time.perf_counter() - T0)

  def estimate(self, method: str, group: int) -> float:
    if (method, group) in self.repeat:
      return self.repeat[(method, group)]
    same = [t for (m, _), t in self.first.items() if m == method]
    if same:
      return float(np.mean(same))
    return self.first.get(("pudnet", group), 0.0)

  def add(self, method: str, group: int, seconds: float, meta_seconds: float) -> None:
    """Records a piece of ``seconds``, ``meta_seconds`` of it meta-training after compiling."""
    if (method, group) not in self.first:
      self.first[(method, group)] = seconds
      rest = max(seconds - meta_seconds, 0.0)
      self.repeat[(method, group)] = 1.2 * meta_seconds + min(10.0, 0.1 * rest)
    else:
      self.repeat[(method, group)] = seconds


def _manifest(data_dir) -> str:
  path = pathlib.Path(data_dir) / "MANIFEST.json"
  if path.is_file():
    return json.loads(path.read_text())["cifar10"]
  return "full datasets (CIFAR-10: 5,000 train / 1,000 test images per class)"


def grid_sets(grid: dict, dataset: str, smoke: bool = False, overrides: dict | None = None) -> dict:
  """The ``PudNetConfig`` fields of ``grid`` for ``dataset``: the grid's ``set``, then its
  ``dataset_set[dataset]``, then the smoke settings, then the command line's overrides."""
  per = grid.get("dataset_set", {}).get(dataset, {})
  return {**grid["set"], **per, **(SMOKE if smoke else {}), **(overrides or {})}


def grid_jobs(grid: dict, columns, methods, seeds) -> list[tuple[str, int, int, list[str]]]:
  """The pieces ``(method, seed, group, settings)`` of ``grid`` in running order: every method
  in turn, seed by seed, one meta-training per group of ``GROUPS`` serving ``settings`` (the
  group's columns among ``columns`` and the method's ``method_columns``, if the grid names
  them); a group with no such column is left out."""
  jobs = []
  for method in methods:
    only = grid.get("method_columns", {}).get(method)
    cols = [c for c in columns if only is None or c in only]
    for seed in seeds:
      for g, (dataset, settings) in enumerate(GROUPS):
        chosen = [s for s in settings if f"{dataset}:{s}" in cols]
        if chosen:
          jobs.append((method, seed, g, chosen))
  return jobs


def run_grid(args) -> None:
  """Every column × method × seed of ``GRIDS[args.grid]`` within ``args.budget_s``."""
  grid = GRIDS[args.grid]
  columns = args.columns or grid.get("columns") or [f"{d}:{s}" for d, s, _ in COLUMNS]
  methods = args.methods or grid["methods"]
  seeds = range(args.seeds if args.seeds is not None else grid["seeds"])
  label = args.grid + ("-smoke" if args.smoke else "")
  cmd = command_line(prog="benchmarks/hypernet/pudnet_compare.py")
  budget, data, exps = Budget(args.budget_s), {}, {}
  extra = {"grid": label, "budget_s": args.budget_s, "data": _manifest(args.data_dir)}
  done = _finished(args.runs)  # an interrupted grid resumes: finished runs are not redone

  def experiment(dataset: str, setting: str, method: str) -> Experiment:
    if (dataset, setting, method) not in exps:
      sets = grid_sets(grid, dataset, args.smoke, _overrides(args))
      cfg = PudNetConfig(
        dataset=dataset, setting=setting, method=method, **{**sets, **VARIANTS[method]}
      )
      if dataset not in data:
        data[dataset] = load_dataset(dataset, args.data_dir)
      exps[(dataset, setting, method)] = Experiment(cfg, args.data_dir, data=data[dataset])
    return exps[(dataset, setting, method)]

  for method, seed, g, settings in grid_jobs(grid, columns, methods, seeds):
    dataset = GROUPS[g][0]
    want = {**grid_sets(grid, dataset, args.smoke, _overrides(args)), **VARIANTS[method]}
    if all((method, seed, dataset, s, want.get("baselines", True)) in done for s in settings):
      print(f"done already: {dataset} {settings} {method} seed {seed}")
      continue
    est, left = budget.estimate(method, g), budget.left()
    if est > left:
      print(f"skip {dataset} {settings} {method} seed {seed}: ~{est:.0f} s > {left:.0f} s left")
      for s in settings:
        metrics = {"reason": "budget", "estimate_s": est, "left_s": left}
        record = make_record(f"skipped:{method}", seed, {"dataset": dataset, "setting": s, **extra},
                             metrics, command=cmd)  # fmt: skip
        append_run(args.runs, record)
      continue
    tic = time.perf_counter()
    first = experiment(dataset, settings[0], method)
    res = meta_train(first.cfg, seed, first.train_pool, progress=not args.no_progress)
    for s in settings:
      exp = experiment(dataset, s, method)
      if res.stopped:  # non-finite meta-loss: recorded, not evaluated
        metrics = {"stopped": res.stopped, "meta_skipped_steps": res.skipped_steps}
      else:
        if exp.cfg.baselines:
          _cached_baselines(exp, args.runs.parent)
        metrics = exp.evaluate(seed, res)
      metrics["elapsed_s"] = time.perf_counter() - T0
      settings_rec = {**exp.settings(), **extra, "meta_trained_for": f"{dataset}:{settings[0]}"}
      append_run(args.runs, make_record(method, seed, settings_rec, metrics, command=cmd))
      acc = metrics.get("pudnet_acc")
      print(
        f"[{time.perf_counter() - T0:6.1f} s] {dataset} {s} {method} seed {seed}: "
        + (f"acc {acc:.4f}" if acc is not None else f"stopped ({res.stopped})"),
        flush=True,
      )
    budget.add(method, g, time.perf_counter() - tic, res.seconds)
    render_all(args)


def _finished(path: pathlib.Path) -> set[tuple]:
  """(method, seed, dataset, setting, with_baselines) of the runs already in the runs file.

  A run evaluated with the baselines (or stopped) counts for both values of
  ``with_baselines``; one evaluated without them only for ``False``, so a resume that wants
  the baselines redoes it."""
  if not path.is_file():
    return set()
  done = set()
  for r in read_runs(path, duplicates="keep"):
    m = r["metrics"]
    if "pudnet_acc" not in m and "stopped" not in m:
      continue
    key = (r["method"], r["seed"], field(r, "settings.dataset"), field(r, "settings.setting"))
    full = "stopped" in m or "random_acc" in m
    done |= {(*key, False), *([(*key, True)] if full else [])}
  return done


# The settings random and scratch accuracy depend on (not the hypernetwork, not its seed).
_BASELINE_KEYS = (
  "dataset", "setting", "eval_dataset", "target_name", "target_norm", "eval_seed",
  "num_eval_tasks", "n_train_eval", "n_test_eval", "eval_pool_per_class", "way", "n_support",
  "scratch_epochs", "scratch_batch", "scratch_lr", "head", "episode_map",
)  # fmt: skip


def rebaseline(args) -> None:
  """Recomputes, in place, the baseline metrics of the runs in ``args.runs`` that have them,
  at the scratch length of ``GRIDS[args.grid]`` (e.g. scratch@50 for runs evaluated with 20).

  Random and scratch accuracy, the scratch curve and wall time do not depend on the
  hypernetwork (:meth:`Experiment.baseline_metrics`): they are computed once per evaluation
  setting. The speed-up's ``predict`` is re-timed in the same process, on a hypernetwork of
  the run's architecture and seed (the time does not depend on its weights), so both sides
  of the ratio come from one machine; the run's own time is kept as
  ``predict_seconds_meta_run``. PudNet's accuracy, fine-tuning and meta-training are kept.
  """
  grid = GRIDS[args.grid]
  names = {f.name for f in dataclasses.fields(PudNetConfig)}
  cmd = command_line(prog="benchmarks/hypernet/pudnet_compare.py")
  data, exps, out = {}, {}, []
  for r in read_runs(args.runs, duplicates="keep"):
    m, s = r["metrics"], r["settings"]
    if "random_acc" not in m:
      out.append(r)
      continue
    sets = grid_sets(grid, s["dataset"], args.smoke, _overrides(args))
    fields = {k: v for k, v in s.items() if k in names}
    cfg = PudNetConfig(**{**fields, "scratch_epochs": sets["scratch_epochs"]})
    # One baseline computation per evaluation setting (the settings the baselines depend on).
    key = json.dumps(
      {**{k: fields.get(k) for k in _BASELINE_KEYS}, "scratch_epochs": cfg.scratch_epochs},
      sort_keys=True,
    )
    if key not in exps:
      if cfg.dataset not in data:
        data[cfg.dataset] = load_dataset(cfg.dataset, args.data_dir)
      exp = Experiment(cfg, args.data_dir, data=data[cfg.dataset])
      scratch = _cached_baselines(exp, args.runs.parent)["scratch"]
      exps[key] = (exp, {})
      print(f"baselines {cfg.dataset} {cfg.setting}: scratch@{cfg.scratch_epochs} "
            f"{scratch[:, -1].mean():.4f}", flush=True)  # fmt: skip
    exp, predict_by_seed = exps[key]
    if r["seed"] not in predict_by_seed:
      predict_by_seed[r["seed"]] = exp.time_predict(build_pudnet(exp.cfg, r["seed"]))
    predict_s, predict_compile = predict_by_seed[r["seed"]]
    metrics = {
      **m, **exp.baseline_metrics(m["pudnet_acc"], predict_s),
      "predict_seconds": predict_s, "predict_compile_seconds": predict_compile,
      "predict_seconds_meta_run": m.get("predict_seconds_meta_run", m["predict_seconds"]),
      "rebaselined": {"command": cmd, "machine": describe_machine()},
    }  # fmt: skip
    out.append({**r, "settings": {**s, "scratch_epochs": cfg.scratch_epochs}, "metrics": metrics})
  write_runs(args.runs, out)


def _baseline_cache(out_dir: pathlib.Path, exp: Experiment) -> pathlib.Path:
  """Where the baselines of ``exp``'s evaluation settings are kept between processes."""
  settings = exp.settings()
  key = json.dumps({k: settings.get(k) for k in _BASELINE_KEYS}, sort_keys=True, default=str)
  digest = hashlib.sha256(key.encode()).hexdigest()[:16]
  return out_dir / "baselines" / f"{settings['dataset']}_{settings['setting']}_{digest}.json"


def _cached_baselines(exp: Experiment, out_dir: pathlib.Path) -> dict:
  """``exp``'s baselines, read from :func:`_baseline_cache` when an earlier process saved them
  for the same evaluation settings, else computed and saved there."""
  cache = _baseline_cache(out_dir, exp)
  if cache.is_file():
    exp.set_baselines(json.loads(cache.read_text()))
  else:
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(to_jsonable(exp.baselines())))
  return exp.baselines()


def run_timing(args) -> None:
  """One ``predict`` on Net-B (5 x 10 support images) and one meta-training step, after
  compilation; the steps run under a device-to-host transfer guard, so a host round trip
  inside the meta-training loop would raise."""
  cfg = PudNetConfig(dataset="cifar10", meta_batch=args.timing_meta_batch)
  rng = np.random.default_rng(0)
  x = rng.integers(0, 256, (1000, 32, 32, 3), dtype=np.uint8)
  pool = make_pool(ImageSet(x, np.arange(1000, dtype=np.int32) % 10, 10))
  model = build_pudnet(cfg, 0)
  ep = sample_episode(pool, jax.random.key(0), k=cfg.k, n_train=cfg.n_support, n_test=0)
  sx = ep.train.reshape(-1, 32, 32, 3)
  sy = jnp.repeat(jnp.arange(cfg.k), cfg.n_support)
  predict_s, predict_compile = timed(lambda: predict(model, sx, sy)[0], repeats=10)
  loss_fn = meta_loss_fn(
    cfg.way, cfg.n_support, cfg.n_query, cfg.meta_batch, episode_map=cfg.episode_map
  )
  trainer = NNXTrainer(model, meta_optimizer(cfg.lr, cfg.b1, cfg.b2), loss_fn)
  key = jax.random.key(1)
  tic = time.perf_counter()
  jax.block_until_ready(trainer.step(pool, jax.random.fold_in(key, 0))[0])
  step_compile = time.perf_counter() - tic
  n = args.timing_steps
  with jax.transfer_guard_device_to_host("disallow"):
    tic = time.perf_counter()
    for t in range(1, n + 1):
      loss, _ = trainer.step(pool, jax.random.fold_in(key, t))  # no host sync in between
    jax.block_until_ready(loss)
    step_s = (time.perf_counter() - tic) / n
  metrics = {
    "predict_seconds": predict_s, "predict_compile_seconds": predict_compile,
    "meta_step_seconds": step_s, "meta_step_compile_seconds": step_compile,
    "host_transfers_between_steps": 0, "load_average": os.getloadavg()[0],
  }  # fmt: skip
  settings = {
    **dataclasses.asdict(cfg), "target_name": cfg.target_name,
    "support": f"{cfg.k}x{cfg.n_support}", "timing_steps": n,
  }  # fmt: skip
  cmd = command_line(prog="benchmarks/hypernet/pudnet_compare.py")
  append_run(args.runs, make_record("timing:net_b", 0, settings, metrics, command=cmd))
  print(f"predict {predict_s * 1e3:.1f} ms, meta-step {step_s:.2f} s (B = {cfg.meta_batch})")


def _timing_table(runs) -> str:
  rows = []
  for r in runs:
    if not r["method"].startswith("timing"):
      continue
    m, s = r["metrics"], r["settings"]
    rows.append([
      s["target_name"], s["support"], f"{m['predict_seconds'] * 1e3:.1f}",
      f"{m['predict_compile_seconds']:.1f}", f"{s['meta_batch']} x {s['n_support'] + s['n_query']}",
      f"{m['meta_step_seconds']:.2f}", f"{m['meta_step_compile_seconds']:.1f}",
      f"{m['load_average']:.1f}",
    ])  # fmt: skip
  if not rows:
    return ""
  return markdown_table(
    ["target", "support (k x n)", "predict (ms)", "predict compile (s)",
     "meta-step episodes x images", "meta-step (s)", "meta-step compile (s)", "load average"],
    rows,
  )  # fmt: skip


def _cell(runs, get, scale=100.0, task_std=None) -> str:
  """``mean ± std over seeds``, then ``[± std over all (seed, sub-dataset) pairs]`` when the
  per-seed std over sub-datasets is recorded (equal sub-datasets per seed)."""
  pairs = [(get(r), task_std(r) if task_std else None) for r in runs]
  pairs = [(v, t) for v, t in pairs if v is not None]
  if not pairs:
    return "—"
  text = fmt_pm([v for v, _ in pairs], scale=scale, digits=1)
  if all(t is not None for _, t in pairs):
    grand = float(np.mean([v for v, _ in pairs]))
    pooled = float(np.sqrt(np.mean([t**2 + (v - grand) ** 2 for v, t in pairs])))
    text += f" [± {pooled * scale:.1f}]"
  return text + (f" (n={len(pairs)})" if len(pairs) < 3 else "")


def _metric(name: str):
  return lambda r: field(r, f"metrics.{name}", None)


def _loss_table(by, present) -> str:
  """Meta-training query loss by step (mean over seeds), to show where it levels off."""
  tables: dict[tuple, list] = {}  # one table per logged step list (datasets may differ)
  for d, s, name in present:
    if s == "inter":
      continue  # the same meta-training as intra
    for method in VARIANTS:
      hists = [field(r, "metrics.meta_history", None) for r in by.get((d, s, method), [])]
      hists = [h for h in hists if h]
      if not hists:
        continue
      steps = tuple(h["step"] for h in hists[0])
      mean = np.mean([[h["loss"] for h in hist[: len(steps)]] for hist in hists], axis=0)
      tables.setdefault(steps, []).append([f"{name}, {method}", *[f"{v:.3f}" for v in mean]])
  return "\n\n".join(
    markdown_table(["meta-loss (mean over seeds) at step", *map(str, steps)], rows)
    for steps, rows in tables.items()
  )


def _rows_spec(runs) -> list[tuple[str, str, str, str]]:
  rows = [("random", "pudnet", "random_acc", "random_task_std")]
  epochs = sorted({e for r in runs for e in field(r, "metrics.scratch_acc", {}) or {}}, key=int)
  rows += [(f"scratch@{e}", "pudnet", f"scratch_acc.{e}", f"scratch_task_std.{e}") for e in epochs]
  rows.append(("pudnet", "pudnet", "pudnet_acc", "pudnet_task_std"))
  ft = sorted({e for r in runs for e in field(r, "metrics.finetune_acc", {}) or {}}, key=int)
  rows += [(f"pudnet+ft@{e}", "pudnet", f"finetune_acc.{e}", f"finetune_task_std.{e}") for e in ft]
  names = {"ghn_lite": "ghn_lite (dataset-blind)"}
  rows += [(names.get(v, v), v, "pudnet_acc", "pudnet_task_std") for v in VARIANTS if v != "pudnet"]
  return rows


def _by_seed(by, column, spec) -> dict:
  """``{seed: value}`` of the row ``spec = (method, metric)`` in ``column = (dataset, setting)``."""
  method, name = spec
  vals = {r["seed"]: _metric(name)(r) for r in by.get((*column, method), [])}
  return {k: v for k, v in vals.items() if v is not None}


def _paired(by, column, a, b):
  """Paired difference ``a − b`` over the seeds both rows have (None when they share none)."""
  return paired_by_key(_by_seed(by, column, a), _by_seed(by, column, b))


def _pct(by, column, spec) -> float | None:
  vals = list(_by_seed(by, column, spec).values())
  return 100 * float(np.mean(vals)) if vals else None


def _delta_text(delta, what: str) -> str:
  """``+3.1 [+0.2, +6.0]`` and whether the interval excludes 0."""
  if delta is None:
    return ""
  if delta.n < 2:
    return f"{delta.fmt(1, scale=100)} (1 seed)"
  sign = "above" if delta.low > 0 else "below" if delta.high < 0 else "level with"
  return f"{delta.fmt(1, scale=100)}: {sign} {what}" + (
    " (the interval covers 0)" if sign == "level with" else ""
  )


def _findings(by, present, rows_spec) -> str:
  """The plain reading of the tables, one bullet per column, computed from the runs."""
  specs = {label: (method, name) for label, method, name, _ in rows_spec}
  epochs = [x[0][8:] for x in rows_spec if x[0].startswith("scratch@")]
  last = f"scratch@{epochs[-1]}" if epochs else None
  bullets, gaps, matched = [], [], []
  for d, s, name in present:
    col = (d, s)
    acc = _pct(by, col, specs["pudnet"])
    if acc is None:
      continue
    seeds = len(_by_seed(by, col, specs["pudnet"]))
    way = field(by[(*col, "pudnet")][0], "settings.way", None)
    chance = f", chance {100 / way:.0f}%" if way else ""
    parts = [f"PudNet {acc:.1f}% ({seeds} seed{'s' * (seeds != 1)}{chance})"]
    base = [
      (lbl, _pct(by, col, specs[lbl])) for lbl in ("random", *(f"scratch@{e}" for e in epochs))
    ]
    parts.append(", ".join(f"{lbl} {v:.1f}%" for lbl, v in base if v is not None))
    steps = [field(r, "metrics.scratch_steps_to_match", None) for r in by.get((*col, "pudnet"), [])]
    steps = [x for x in steps if x is not None] if steps else []
    if steps:
      parts.append(f"scratch training needs {int(np.median(steps))} steps (median) to match it")
      matched.append(int(np.median(steps)))
    if last and _pct(by, col, specs[last]) is not None:
      gaps.append(_pct(by, col, specs[last]) - acc)
    for a, b, what in (
      ("pudnet", "scratch@5", "5 scratch epochs"),
      ("pudnet+ft@1", "scratch@1", "1 scratch epoch"),
      ("pudnet", "ghn_lite (dataset-blind)", "the dataset-blind control"),
      *(("pudnet", v, f"`{v}`") for v in ABLATIONS),
    ):
      if a in specs and b in specs:
        text = _delta_text(_paired(by, col, specs[a], specs[b]), what)
        if text:
          parts.append(f"{a} − {b.split(' ')[0]} {text}")
    bullets.append(f"- {name}: " + "; ".join(x for x in parts if x) + ".")
  if not bullets:
    return ""
  head = "What the runs show (computed from the runs file):"
  tail = []
  if gaps and last:
    tail.append(
      f"In every column with scratch runs the longest ({last}) is ahead of one forward pass, by "
      f"{min(gaps):.1f} to {max(gaps):.1f} points"
      if min(gaps) > 0
      else f"One forward pass reaches {last} in {sum(g <= 0 for g in gaps)} of {len(gaps)} columns"
    )
  if matched:
    tail.append(
      f"scratch training matches the prediction after {min(matched)} to {max(matched)} steps"
    )
  verdict = (
    "So the paper's claim (one pass ≈ 8,967 GPU-s of scratch training) holds here in kind, not "
    "in degree: the prediction replaces the first steps of training, not a long run."
    if gaps and min(gaps) > 0
    else ""
  )
  summary = (("; ".join(tail) + ". ") if tail else "") + verdict
  return "\n".join([head, "", *bullets, "", summary.strip()])


def _delta_table(by, present, rows_spec) -> str:
  """Paired differences over meta-training seeds (percentage points, 95% t-interval)."""
  specs = {label: (method, name) for label, method, name, _ in rows_spec}
  pairs = [
    ("pudnet", "ghn_lite (dataset-blind)"),
    ("pudnet", "scratch@1"),
    ("pudnet", "scratch@5"),
    ("pudnet+ft@1", "scratch@1"),
    ("pudnet+ft@5", "scratch@5"),
    *(("pudnet", v) for v in ABLATIONS),
  ]
  rows = []
  for a, b in pairs:
    if a not in specs or b not in specs:
      continue
    cells = []
    for d, s, _ in present:
      delta = _paired(by, (d, s), specs[a], specs[b])
      cells.append("—" if delta is None else delta.fmt(1, scale=100))
    if any(c != "—" for c in cells):
      rows.append([f"{a} − {b}", *cells])
  if not rows:
    return ""
  return markdown_table(["paired Δ over seeds (points, 95% CI)", *[c[2] for c in present]], rows)


def _time_table(by, present, epochs) -> str:
  rows = []
  for d, s, name in present:
    rs = [r for r in by.get((d, s, "pudnet"), []) if _metric("train_seconds")(r) is not None]
    if not rs:
      continue
    pred = [field(r, "metrics.predict_seconds") for r in rs]
    train = [field(r, "metrics.train_seconds") for r in rs]
    steps = [field(r, "metrics.scratch_steps_to_match", None) for r in rs]
    steps_txt = ", ".join("> all" if x is None else str(x) for x in steps)
    meta = [field(r, "metrics.meta_train_seconds", 0.0) for r in rs]
    rows.append([
      name, fmt_pm(pred, scale=1e3, digits=2), fmt_pm(train, digits=2),
      f"{mean_std(train)[0] / mean_std(pred)[0]:,.0f}×", steps_txt,
      f"{field(rs[0], 'settings.meta_steps')} × {field(rs[0], 'settings.meta_batch')}",
      f"{np.mean(meta):.1f}", str(len(rs)), str(field(rs[0], "settings.num_eval_tasks")),
    ])  # fmt: skip
  if not rows:
    return ""
  rows.append(["paper: ResNet-18, ImageNet-1K (top-5 44.92% vs 44.65%)", "3,890", "8,967",
               "2,305×", "—", "—", "—", "—", "—"])  # fmt: skip
  return markdown_table(
    ["column", "predict (ms)", f"scratch@{epochs[-1] if epochs else '?'} train (s)", "speed-up",
     "scratch steps to match PudNet (per seed)", "meta-steps × batch",
     "meta-training (s, after compile)", "seeds", "eval tasks"],
    rows,
  )  # fmt: skip


def _skipped(runs) -> str:
  skipped = [r for r in runs if r["method"].startswith("skipped:")]
  if not skipped:
    return ""
  items = sorted({(r["method"][8:], field(r, "settings.dataset"), field(r, "settings.setting"),
                   r["seed"]) for r in skipped})  # fmt: skip
  return (
    "Skipped because the time budget would not have held them (method, dataset, setting, "
    "seed): " + "; ".join(f"{m} {d} {s} {seed}" for m, d, s, seed in items) + "."
  )


_DATA = {"mnist": "MNIST (60,000 train / 10,000 test images), digits from scikit-learn"}


def _settings_text(runs: list[dict]) -> str:
  """One line of settings per meta-training dataset (the first run of each stands for all)."""
  first: dict[str, dict] = {}
  for r in runs:
    if r["method"] == "pudnet":
      first.setdefault(r["settings"]["dataset"], r["settings"])
  lines = []
  for dataset, s in first.items():
    lines.append(
      f"Settings ({dataset}, {s.get('target_name')}): k = {s.get('k')} ({s.get('k_disjoint')} "
      f"for intra-disjoint), support {s.get('n_support')} per class, meta-batch "
      f"{s.get('meta_batch')}, {s.get('meta_steps')} meta-steps, d = {s.get('d')}, "
      f"h = {s.get('h')}, {s.get('num_eval_tasks')} evaluation sub-datasets of "
      f"{s.get('n_train_eval')} + {s.get('n_test_eval')} images per class, scratch up to "
      f"{s.get('scratch_epochs')} epochs; data: {_DATA.get(dataset) or s.get('data')}."
    )
  return "\n\n".join(lines)


def render_grid(runs: list[dict], label: str) -> list[str]:
  """The markdown parts of one grid's runs."""
  by = {}
  for r in runs:
    if not r["method"].startswith("skipped:"):
      key = (field(r, "settings.dataset"), field(r, "settings.setting"), r["method"])
      by.setdefault(key, []).append(r)
  present = [c for c in COLUMNS if any(k[:2] == c[:2] for k in by)]
  done = [r for r in runs if not r["method"].startswith("skipped:")]
  rows_spec = _rows_spec(done)
  # The accuracy table shows every column of the issue ("—": not run in this grid).
  shown = present if label.endswith("-smoke") or not present else COLUMNS
  rows = []
  for label_, method, name, std_name in rows_spec:
    cells = [
      _cell(by.get((d, s, method), []), _metric(name), task_std=_metric(std_name))
      for d, s, _ in shown
    ]
    if any(c != "—" for c in cells):
      rows.append([label_, *cells])
  head = ["method (accuracy %, mean ± std over seeds; —: not run)", *[c[2] for c in shown]]
  epochs = [x[0][8:] for x in rows_spec if x[0].startswith("scratch@")]
  machines = sorted({r["machine"] for r in done})
  return [
    f"## {GRID_TITLES.get(label.removesuffix('-smoke'), label)}"
    + (" (smoke)" * label.endswith("-smoke")),
    _settings_text(done),
    "Machine: " + "; ".join(machines) if machines else "",
    "Command(s): " + "; ".join(sorted({f"`{r['command']}`" for r in done})),
    markdown_table(head, rows) if rows else "(no finished run yet)",
    _findings(by, present, rows_spec),
    _delta_table(by, present, rows_spec),
    _time_table(by, present, epochs),
    _loss_table(by, present),
    _skipped(runs),
  ]


STATUS_CPU = (
  "Status: the GPU grid has not run (no GPU was lent). The tables below are the reduced-scale "
  "CPU grid (`--grid cpu`) on a shared 2-core CPU: all six columns with PudNet, the baselines "
  "(random, scratch@1/5/20/50, PudNet + fine-tune@1/5), the dataset-blind control and the "
  "spec's three ablations, each over 3 meta-training seeds (what did not fit the time budget "
  "would be listed as skipped at the end of the section; nothing was).\n\n"
  "The CIFAR-10 columns run at a smaller scale than the MNIST ones: 30 meta-steps (not 60) and 4"
  " evaluation sub-datasets of 20 + 40 images per class (not 8 of 40 + 40). They became "
  "affordable once the target's gradient convolutions were written in XLA:CPU's fast layout "
  "(`hypernet/_convnet.py`: inside `lax.scan` XLA:CPU ran autodiff's form of them as a generic "
  "loop): one Net-B scratch epoch fell from 7.2 to 0.21 CPU-s.\n\n"
  "Scratch@50 and the speed-ups (seventh session): the PudNet runs were first evaluated with "
  "scratch training up to 20 epochs. `--rebaseline` recomputed every column's random and "
  "scratch baselines with 50 epochs (the same sub-datasets and initialisations: scratch@1/5/20 "
  "agree with the earlier values within 0.1 point) and re-timed one `predict` in the same "
  "process as the timed scratch@50 run, so each speed-up is a ratio of two times taken side by "
  "side on one machine (the earlier MNIST scratch times predated the convolution change and "
  "overstated scratch training about 20×: 2,938–5,928× then, 415–601× now). PudNet's accuracy, "
  "its fine-tuning and its meta-training are those of the original runs.\n\n"
  "Verdict at this scale: one forward pass is worth the first few epochs of training from "
  "scratch, not a long run, so the paper's claim holds in kind, not in degree. Within a dataset"
  " the prediction is far above random and level with 5 scratch epochs (MNIST intra +0.3, "
  "CIFAR-10 intra +1.2 points) or below them (CIFAR-10 intra-disjoint -4.4, MNIST → digits "
  "-11.4, MNIST intra-disjoint -18.9); 50 scratch epochs are ahead in every column, by 3.4 "
  "points (CIFAR-10 intra, where 20 training images per class cap scratch training at 49.0%) to"
  " 34.3 (MNIST intra-disjoint), and scratch training matches the prediction after 2 to 24 "
  "steps; one predict is 415-666× faster than a scratch@50 run. As an initialisation it helps on "
  "MNIST (5 fine-tuning epochs beat 5 scratch epochs by 12.3 and 8.8 points within MNIST, 0.9 "
  "on digits) and a little on CIFAR-10 intra-disjoint (+2.3 [+0.3, +4.4]); on CIFAR-10 intra "
  "one fine-tuning epoch first costs 6 points (39.6% vs 45.6%). Across datasets it fails at "
  "this scale: a hypernetwork meta-trained on CIFAR-10 predicts chance-level networks for "
  "Colored-MNIST (21.8% vs random 19.2%, 5-way), and fine-tuning from its prediction is no "
  "better than from He init. Neither of PudNet's two ingredients shows its value: the "
  "dataset-blind control (the same generator without the support set) is level with it in all "
  "six columns, and the generator without the recurrent unit over layers (`no_ahru`: one Dense"
  " per layer from the sketch) is never worse and better by 9.4 [7.3, 11.4] points on MNIST "
  "intra (by 3.3-4.5 on CIFAR-10 within the dataset and on MNIST's unseen classes, intervals "
  "across 0). The sketch mix helps a little on MNIST's unseen classes (PudNet − no_sketch_mix "
  "+2.1 [+0.8, +3.5]) and is level elsewhere; the fan-in weight scaling changes nothing "
  "measurable in any column. After 30-60 meta-steps of a small hypernetwork the simpler "
  "generator learns a good generic initialisation faster; whether the dataset conditioning and"
  " the recurrence pay off with the spec's 2,000 meta-steps and d = 128 is what the GPU grid "
  "would test. The defaults stay the spec's (the official code's) choices.\n\n"
  "Reduced against the issue: the hypernetwork is small (d = 32, h = 4 instead of 128 and 8); it"
  " is meta-trained for 60 steps of 4 episodes on MNIST and 30 on CIFAR-10 (the GPU grid: 400 × "
  "8; the spec: 2,000 × 8); the evaluation uses 8 sub-datasets of 40 + 40 images per class on "
  "MNIST and 4 of 20 + 40 on CIFAR-10 (GPU grid: 50 of 80 + 80); CIFAR-10 is the 2,500 + 500 "
  "images per class subset of `make_device_data.py`. The full grid, data step included (about 4"
  " minutes on one H200):\n\n"
  "    python benchmarks/hypernet/make_device_data.py --out .device_data && \\\n"
  "    PYTHONPATH=. python benchmarks/hypernet/pudnet_compare.py --grid gpu --budget-s 230 \\\n"
  '      --data-dir .device_data --out-dir "$OUT" --no-progress\n\n'
  "The CPU grid is resumable (finished runs are kept, baselines cached per evaluation setting)."
  " This session's steps, about 55 min of wall time on the shared CPU (12 min for the "
  "baselines, 42 min for the 36 ablation meta-trainings), then the report:\n\n"
  "    python benchmarks/hypernet/make_device_data.py --out .device_data\n"
  "    cp benchmarks/results/hypernet/pudnet_cpu_runs.jsonl runs/pudnet_cpu/\n"
  "    PYTHONPATH=. python benchmarks/hypernet/pudnet_compare.py --grid cpu --rebaseline \\\n"
  "      --data-dir .device_data --out-dir runs/pudnet_cpu --no-progress\n"
  "    PYTHONPATH=. python benchmarks/hypernet/pudnet_compare.py --grid cpu \\\n"
  "      --methods no_ahru no_sketch_mix weight_norm_none --budget-s 5000 \\\n"
  "      --data-dir .device_data --out-dir runs/pudnet_cpu --no-progress\n"
  "    PYTHONPATH=. python benchmarks/hypernet/pudnet_compare.py --grid cpu --report-only \\\n"
  "      --out-dir benchmarks/results/hypernet\n\n"
  "(the last after copying `runs/pudnet_cpu/pudnet_cpu_runs.jsonl`, duplicates removed, the "
  "later run of a (column, method, seed) kept, to `benchmarks/results/hypernet/`). All six "
  "columns and every method at once: `--grid cpu --budget-s 9000 --data-dir .device_data "
  "--out-dir runs/pudnet_cpu`."
)
STATUS_NONE = (
  "Status: the GPU grid has not run yet; its command (data step included) is in the "
  "`PudNetConfig` docstring and this script's. The reduced-scale CPU grid (`--grid cpu`: MNIST "
  "columns, d = 32, 60 meta-steps, 8 sub-datasets) was started on the shared 2-core CPU but "
  "received 2.5 CPU-minutes in 46 minutes (load 30, nice 10; compiling one meta-step took "
  "3.5 min) and was stopped before its first column. Measured accuracies so far: the smoke run "
  "in `pudnet_smoke.md` (MNIST intra, 30 meta-steps, 1 seed, 4 sub-datasets: PudNet 71.5% vs "
  "random 19.5%, scratch@5 75.2%, fine-tune@1 79.3%)."
)
INTRO = (
  "Accuracy on the held-out images of the evaluation sub-datasets: mean ± std over "
  "meta-training seeds of the per-seed mean over sub-datasets, then in brackets the std over "
  "all (seed, sub-dataset) pairs; (n=…) when fewer than 3 seeds finished. Random and scratch "
  "do not depend on the meta-training seed (their seed std is 0; the bracket is their spread "
  "over sub-datasets). Wall times after compilation (median of repeats, `block_until_ready`): "
  "one `predict` on the support set vs one full scratch run on one sub-dataset."
)


def render(paths: list[pathlib.Path], md_path: pathlib.Path) -> str:
  paths = [p for p in dict.fromkeys(p.resolve() for p in paths) if p.is_file()]
  runs = read_runs(
    *paths, key=("settings.grid", "settings.dataset", "settings.setting", "method", "seed"),
    duplicates="last",
  ) if paths else []  # fmt: skip
  timing_runs = [r for r in runs if r["method"].startswith("timing")]
  runs = [r for r in runs if not r["method"].startswith("timing")]
  grids: dict[str, list] = {}
  for r in runs:
    grids.setdefault(field(r, "settings.grid", "default"), []).append(r)
  order = sorted(grids, key=lambda g: (list(GRID_TITLES).index(g) if g in GRID_TITLES else 9, g))
  parts = [
    "# PudNet: predicted ConvNets vs training from scratch",
    "Generated by `benchmarks/hypernet/pudnet_compare.py` from "
    + ", ".join(f"`{p.name}`" for p in paths)
    + ".",
    INTRO,
  ]
  if not any(g.startswith("gpu") for g in grids):
    parts.append(STATUS_CPU if "cpu" in grids else STATUS_NONE)
  for g in order:
    parts += render_grid(grids[g], g)
  parts += [
    "## Performance check (Net-B, CPU, after compilation)",
    "The timed meta-steps run under `jax.transfer_guard_device_to_host('disallow')`, so the "
    "loop has no host round trip.",
    _timing_table(timing_runs) or "(not run yet: `--timing`)",
    "Machine: " + "; ".join(sorted({r["machine"] for r in timing_runs})) if timing_runs else "",
    PAPER,
  ]
  text = "\n\n".join(x for x in parts if x)
  md_path.write_text(text + "\n", encoding="utf-8")
  return text


def render_all(args) -> str:
  """Renders the md beside ``args.runs`` from it and (unless smoke) the committed runs files."""
  paths = [] if args.smoke else sorted(OUT.glob("pudnet*_runs.jsonl"))
  paths = [p for p in paths if "smoke" not in p.name] + [args.runs]  # the fresh runs win
  return render(paths, args.md)


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument(
    "--data-dir", default=str(pathlib.Path(__file__).resolve().parents[3] / "shared" / "data")
  )
  p.add_argument("--smoke", action="store_true", help="tiny settings (a test of the driver)")
  p.add_argument("--grid", choices=sorted(GRIDS), default=None, help="a preset grid (see GRIDS)")
  p.add_argument("--budget-s", type=float, default=None, help="wall-clock budget of --grid")
  p.add_argument("--out-dir", type=pathlib.Path, default=None, help="where runs and md go")
  p.add_argument("--seeds", type=int, default=None)
  p.add_argument("--meta-steps", type=int, default=None)
  p.add_argument("--num-eval-tasks", type=int, default=None)
  p.add_argument("--methods", nargs="+", default=None, choices=list(VARIANTS))
  p.add_argument("--columns", nargs="*", default=None, help="e.g. mnist:intra cifar10:inter")
  p.add_argument("--runs", type=pathlib.Path, default=None)
  p.add_argument(
    "--set", nargs="*", default=None, metavar="FIELD=VALUE", help="other PudNetConfig fields"
  )
  p.add_argument("--report-only", action="store_true")
  p.add_argument(
    "--rebaseline", action="store_true",
    help="recompute the baselines of the runs in --runs at --grid's scratch length, then report",
  )  # fmt: skip
  p.add_argument("--timing", action="store_true", help="only the predict / meta-step timing")
  p.add_argument("--timing-steps", type=int, default=5)
  p.add_argument("--timing-meta-batch", type=int, default=8)
  p.add_argument("--no-progress", action="store_true")
  args = p.parse_args(argv)
  out = args.out_dir or OUT
  out.mkdir(parents=True, exist_ok=True)
  if args.grid:
    name = f"pudnet_{args.grid}" + ("_smoke" if args.smoke else "")
  else:
    name = "pudnet_smoke" if args.smoke else "pudnet"
  args.runs = args.runs or out / f"{name}_runs.jsonl"
  args.md = out / ("pudnet.md" if not args.smoke else f"{name}.md")
  if not args.grid:
    args.seeds = 3 if args.seeds is None else args.seeds
    args.methods = args.methods or list(VARIANTS)
    if args.smoke and args.columns is None:
      args.columns, args.methods, args.seeds = ["mnist:intra"], ["pudnet"], 1
  if args.rebaseline:
    if not args.grid:
      p.error("--rebaseline needs --grid (its scratch length)")
    rebaseline(args)
  elif args.timing:
    run_timing(args)
  elif args.grid and not args.report_only:
    run_grid(args)
  elif not args.report_only:
    run_columns(args)
  print(render_all(args))
  return 0


if __name__ == "__main__":
  sys.exit(main())
