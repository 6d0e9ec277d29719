"""``fira-jax distill plankd collect|train|evaluate|compare``: PlanKD on the hw-plan task.

- ``collect``: expert episodes (highway-env's IDM/MOBIL driver) into one ``.npz`` of frame
  states.
- ``train``: one planner (the teacher, or a student with a method) on a collected set.
- ``evaluate``: a saved planner open-loop and in closed loop; appends a run record.
- ``compare``: the whole grid (collect, teacher, students × methods × seeds, evaluation),
  resumable; writes ``<out stem>_runs.jsonl`` and the Markdown report ``--out``.

The benchmark ``benchmarks/distill/plankd_compare.py`` runs ``compare``. The simulator is the
optional extra ``[sim]`` (``pip install "fira-jax[sim]"``).
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
from collections.abc import Sequence

from distill.plankd._data import SEEDS, collect, load_dataset
from distill.plankd._experiment import (
  GridConfig,
  evaluate_planner,
  load_planner,
  run_grid,
  save_planner,
)
from distill.plankd._planner import PLANNERS
from distill.plankd._report import RUN_KEY, write_report
from distill.plankd._scene import SceneConfig
from distill.plankd._sim import SimConfig
from distill.plankd._train import METHODS, TrainConfig, train
from fira_jax.lab.config_flags import add_dataclass_flags, from_args
from fira_jax.lab.results import append_run, command_line, make_record, read_runs

__all__ = ["add_arguments", "run", "runs_path", "write_compare_report", "SMOKE", "TITLE"]

PROG = "fira-jax distill plankd"
TITLE = "PlanKD on hw-plan (highway-env)"
# Tiny settings for tests and notebooks (seconds to a minute).
SMOKE = {
  "grid": {
    "train_episodes": 2,
    "val_episodes": 1,
    "test_episodes": 1,
    "sizes": ("S-S",),
    "methods": ("alone", "plankd"),
    "seeds": (0,),
  },
  "train": {"epochs": 1, "batch_size": 32},
  "sim": {"duration": 8.0, "route_length": 150.0},
}


_TUPLES = ("sizes", "methods", "seeds")


def runs_path(out: pathlib.Path) -> pathlib.Path:
  """The runs file beside the report ``out``: ``<out stem>_runs.jsonl``."""
  return out.with_name(out.stem + "_runs.jsonl")


def _sim_flags(p: argparse.ArgumentParser) -> None:
  g = p.add_argument_group("simulator (SimConfig)")
  add_dataclass_flags(g, SimConfig)
  p.add_argument("--no-distractors", action="store_true", help="no off-road clutter channel")
  p.add_argument("--smoke", action="store_true", help="tiny settings (tests, notebooks)")
  p.add_argument("--quiet", action="store_true", help="no progress bars")


def add_arguments(parser: argparse.ArgumentParser) -> None:
  """Registers the four subcommands on ``parser``."""
  sub = parser.add_subparsers(dest="plankd_command", required=True, metavar="COMMAND")
  c = sub.add_parser("collect", help="expert episodes into an .npz of frame states")
  c.add_argument("--split", choices=("train", "val"), default="train")
  c.add_argument("--episodes", type=int, default=None, help="first N seeds of the split")
  c.add_argument("--out", type=pathlib.Path, required=True)
  c.add_argument("--workers", type=int, default=1, help="simulator processes")
  _sim_flags(c)
  t = sub.add_parser("train", help="train one planner on a collected set")
  t.add_argument("--data", type=pathlib.Path, required=True)
  t.add_argument("--method", choices=list(METHODS), default="alone")
  t.add_argument("--size", choices=list(PLANNERS), default="S-M")
  t.add_argument("--seed", type=int, default=0)
  t.add_argument("--teacher", type=pathlib.Path, default=None, help="saved teacher (.npz)")
  t.add_argument("--out", type=pathlib.Path, required=True, help="saved planner (.npz)")
  add_dataclass_flags(t.add_argument_group("training (TrainConfig)"), TrainConfig)
  _sim_flags(t)
  e = sub.add_parser("evaluate", help="a saved planner open-loop and in closed loop")
  e.add_argument("--model", type=pathlib.Path, required=True)
  e.add_argument("--val", type=pathlib.Path, required=True, help="collected validation set")
  e.add_argument("--episodes", type=int, default=50, help="closed-loop test seeds 10000...")
  e.add_argument("--method", default=None, help="label of the run (default: the file stem)")
  e.add_argument("--seed", type=int, default=0, help="training seed of the run")
  e.add_argument("--runs", type=pathlib.Path, default=None, help="append the run record here")
  _sim_flags(e)
  g = sub.add_parser("compare", help="the whole grid: teacher, students × methods × seeds")
  g.add_argument("--work", type=pathlib.Path, default=pathlib.Path("plankd_work"))
  g.add_argument("--out", type=pathlib.Path, default=pathlib.Path("plankd.md"))
  g.add_argument("--notes", default="", help="text placed under the report's title")
  grid = g.add_argument_group("grid (GridConfig)")
  students = [m for m in METHODS if m != "teacher"]
  grid.add_argument("--sizes", nargs="+", choices=("S-L", "S-M", "S-S"), default=None)
  grid.add_argument("--methods", nargs="+", choices=students, default=None)
  grid.add_argument("--seeds", type=int, nargs="+", default=None, help="training seeds")
  add_dataclass_flags(grid, GridConfig, exclude=_TUPLES)
  add_dataclass_flags(g.add_argument_group("training (TrainConfig)"), TrainConfig)
  _sim_flags(g)


def _configs(args: argparse.Namespace):
  smoke = getattr(args, "smoke", False)
  sim = from_args(SimConfig, args, base=SimConfig(**SMOKE["sim"]) if smoke else SimConfig())
  scene = SceneConfig(distractors=not args.no_distractors)
  if sim.duration <= 0 or sim.route_length <= 0 or sim.vehicles_count < 0:
    raise ValueError("--duration and --route-length must be > 0, --vehicles-count >= 0")
  return sim, scene


def _train_config(args):
  base = TrainConfig(**SMOKE["train"]) if args.smoke else TrainConfig()
  cfg = from_args(TrainConfig, args, base=base)
  if cfg.epochs < 1 or cfg.batch_size < 1:
    raise ValueError(f"--epochs and --batch-size must be >= 1, got {cfg.epochs}, {cfg.batch_size}")
  if not 0.0 <= cfg.fix_l1_share <= 1.0:
    raise ValueError(f"--fix-l1-share must be in [0, 1], got {cfg.fix_l1_share}")
  if cfg.actor_time not in ("aligned", "current"):
    raise ValueError(f"--actor-time must be 'aligned' or 'current', got {cfg.actor_time!r}")
  return cfg


def _collect(args) -> int:
  sim, scene = _configs(args)
  seeds = list(SEEDS[args.split])
  n = args.episodes if args.episodes is not None else (2 if args.smoke else len(seeds))
  if not 1 <= n <= len(seeds):
    raise ValueError(f"--episodes must be in [1, {len(seeds)}] for {args.split}, got {n}")
  info = collect(
    seeds[:n], args.out, sim=sim, scene=scene, progress=not args.quiet, workers=args.workers
  )
  print(
    f"{args.out}: {info['episodes']} episodes, {info['frames']} frames, "
    f"{info['dropped']} expert crashes dropped"
  )
  return 0


def _train(args) -> int:
  sim, scene = _configs(args)
  cfg = _train_config(args)
  data = load_dataset(args.data, scene)
  teacher = None
  if args.teacher is not None:
    teacher, size = load_planner(args.teacher)
    if size != "teacher":
      raise ValueError(f"--teacher {args.teacher} holds a {size} planner, not the teacher")
  planner, info = train(
    args.method,
    args.size,
    data,
    seed=args.seed,
    config=cfg,
    scene=scene,
    teacher=teacher,
    progress=not args.quiet,
  )
  save_planner(planner, args.size, args.out)
  print(
    f"{args.out}: loss {info['first_loss']:.4f} -> {info['final_loss']:.4f} "
    f"in {info['steps']} steps ({info['train_s']:.0f} s)"
  )
  return 0


def _evaluate(args) -> int:
  sim, scene = _configs(args)
  if not 1 <= args.episodes <= len(SEEDS["test"]):
    raise ValueError(f"--episodes must be in [1, {len(SEEDS['test'])}], got {args.episodes}")
  planner, size = load_planner(args.model)
  val = load_dataset(args.val, scene)
  metrics = evaluate_planner(
    planner,
    val,
    list(SEEDS["test"])[: args.episodes],
    sim=sim,
    scene=scene,
    progress=not args.quiet,
  )
  shown = (
    "driving_score",
    "route_completion",
    "infraction_penalty",
    "collision_rate",
    "mean_speed",
    "l1",
    "inference_ms",
  )
  print(", ".join(f"{k} {metrics[k]:.3f}" for k in shown))
  if args.runs is not None:
    method = args.method or args.model.stem
    settings = {"size": size, **{f"sim_{k}": v for k, v in dataclasses.asdict(sim).items()}}
    append_run(
      args.runs, make_record(method, args.seed, settings, metrics, command=command_line(prog=PROG))
    )
  return 0


def write_compare_report(
  out: pathlib.Path, *, notes: str = "", expected: Sequence[tuple[str, str, int]] = ()
) -> str:
  """Renders the report ``out`` from the runs file beside it; ``expected`` (method, size,
  seed) runs without a record are listed as not run. Returns the text."""
  runs = read_runs(runs_path(out), key=RUN_KEY)
  return write_report(runs, out, title=TITLE, notes=notes, expected=expected)


def _compare(args) -> int:
  sim, scene = _configs(args)
  cfg = _train_config(args)
  grid = from_args(
    GridConfig, args, base=GridConfig(**SMOKE["grid"]) if args.smoke else GridConfig()
  )
  grid.check()
  out = args.out
  runs_file = runs_path(out)

  # the cells of the whole comparison (a caller running it in passes sets args.expected)
  expected = getattr(args, "expected", None) or grid.cells()
  skipped: list = []

  def report(_record=None):
    write_compare_report(out, notes=args.notes, expected=expected)

  run_grid(
    grid,
    args.work,
    runs_file,
    config=cfg,
    sim=sim,
    scene=scene,
    command=command_line(prog=PROG),
    progress=not args.quiet,
    on_run=report,
    skipped=skipped,
  )
  report()
  if skipped:
    print(f"{len(skipped)} runs skipped over the --budget-s budget (listed in {out})")
  print(f"wrote {out} and {runs_file}")
  return 0


def run(args: argparse.Namespace) -> int:
  """Runs the chosen subcommand."""
  return {"collect": _collect, "train": _train, "evaluate": _evaluate, "compare": _compare}[
    args.plankd_command
  ](args)
