"""The hw-plan grid: collect expert data once, train the teacher, then each student size with
each method and training seed, and evaluate every planner open-loop and in closed loop.

Resumable: datasets and the teacher are kept in a work folder and runs already in the runs file
are skipped, so an interrupted grid continues where it stopped.
"""

from __future__ import annotations

import dataclasses
import pathlib
import time
from collections.abc import Callable, Sequence

import jax
import numpy as np
from flax import nnx

from distill.plankd._data import SEEDS, Dataset, collect, load_dataset
from distill.plankd._evaluate import (
  closed_loop,
  inference_ms,
  infraction_penalty,
  open_loop,
  route_completion,
)
from distill.plankd._planner import PLANNERS, Planner, num_params
from distill.plankd._report import RUN_KEY
from distill.plankd._scene import SceneConfig
from distill.plankd._sim import SimConfig
from distill.plankd._train import METHODS, TrainConfig, train
from fira_jax.lab.machine import describe_machine
from fira_jax.lab.metrics import MetricsLog
from fira_jax.lab.results import append_run, field, make_record, read_runs

__all__ = [
  "GridConfig",
  "save_planner",
  "load_planner",
  "evaluate_planner",
  "run_grid",
  "ensure_data",
]


@dataclasses.dataclass(frozen=True)
class GridConfig:
  """What the grid covers.

  Attributes:
    train_episodes: expert episodes for training (seeds 0, 1, ...; at most 400).
    val_episodes: expert episodes for the open-loop L1 (seeds 400, ...; at most 50).
    test_episodes: closed-loop episodes (seeds 10000, ...; at most 50).
    sizes: student sizes.
    methods: student methods.
    seeds: training seeds.
    budget_s: wall-clock budget in seconds: a student run is skipped (and reported as not run)
      when the time spent so far plus the last duration of a run of its size (else the longest
      run so far) would exceed it.
      ``None``: no budget.
  """

  train_episodes: int = 400
  val_episodes: int = 50
  test_episodes: int = 50
  sizes: tuple[str, ...] = ("S-L", "S-M", "S-S")
  methods: tuple[str, ...] = (
    "alone",
    "output_kd",
    "feature_kd",
    "ib_only",
    "attention_only",
    "plankd",
  )
  seeds: tuple[int, ...] = (0, 1, 2)
  budget_s: float | None = None

  def cells(self) -> list[tuple[str, str, int]]:
    """The student runs of the grid as ``(method, size, seed)``, in the order they run."""
    return [(m, z, s) for s in self.seeds for z in self.sizes for m in self.methods]

  def check(self) -> None:
    """Raises ``ValueError`` on an impossible grid."""
    for name, limit in (("train", 400), ("val", 50), ("test", 50)):
      n = getattr(self, f"{name}_episodes")
      if not 1 <= n <= limit:
        raise ValueError(f"{name}_episodes must be in [1, {limit}], got {n}")
    bad = [s for s in self.sizes if s not in PLANNERS or s == "teacher"]
    if bad:
      raise ValueError(f"unknown student sizes {bad}; choose from S-L, S-M, S-S")
    bad = [m for m in self.methods if m not in METHODS or m == "teacher"]
    if bad:
      raise ValueError(
        f"unknown methods {bad}; choose from {[m for m in METHODS if m != 'teacher']}"
      )
    if self.budget_s is not None and self.budget_s <= 0:
      raise ValueError(f"budget_s must be > 0, got {self.budget_s}")


def save_planner(planner: Planner, size: str, path: str | pathlib.Path) -> None:
  """Writes the planner's parameters and size to an ``.npz``."""
  leaves = jax.tree_util.tree_flatten_with_path(nnx.state(planner, nnx.Param))[0]
  arrays = {jax.tree_util.keystr(p): np.asarray(v) for p, v in leaves}
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  np.savez(path, __size__=np.asarray(size), **arrays)


def load_planner(path: str | pathlib.Path) -> tuple[Planner, str]:
  """Reads a planner written by :func:`save_planner`: ``(planner, size)``."""
  path = pathlib.Path(path)
  if not path.exists():
    raise FileNotFoundError(f"no planner at {path}")
  z = np.load(path)
  if "__size__" not in z.files:
    raise ValueError(f"{path} is not a saved planner")
  size = str(z["__size__"])
  planner = Planner(PLANNERS[size], rngs=nnx.Rngs(0))
  state = nnx.state(planner, nnx.Param)
  leaves, treedef = jax.tree_util.tree_flatten_with_path(state)
  try:
    values = [z[jax.tree_util.keystr(p)] for p, _ in leaves]
  except KeyError as e:
    raise ValueError(f"{path} does not match a {size} planner ({e})") from None
  nnx.update(planner, jax.tree_util.tree_unflatten(treedef, values))
  return planner, size


def ensure_data(
  work: pathlib.Path, grid: GridConfig, sim: SimConfig, scene: SceneConfig, *, progress: bool
) -> tuple[Dataset, Dataset]:
  """The training and validation sets, collected into ``work`` on first use."""
  sets = []
  for split, n in (("train", grid.train_episodes), ("val", grid.val_episodes)):
    path = work / f"{split}_{n}.npz"
    if not path.exists():
      info = collect(list(SEEDS[split])[:n], path, sim=sim, scene=scene, progress=progress)
      print(f"collected {split}: {info}", flush=True)
    sets.append(load_dataset(path, scene))
  return sets[0], sets[1]


def evaluate_planner(
  planner: Planner,
  val: Dataset,
  test_seeds: Sequence[int],
  *,
  sim: SimConfig,
  scene: SceneConfig,
  progress: bool = True,
  desc: str = "closed loop",
) -> dict:
  """Open-loop errors, closed-loop driving metrics (with each episode's score) and latency."""
  metrics = open_loop(planner, val, scene)
  driving, episodes = closed_loop(
    planner, test_seeds, sim=sim, scene=scene, progress=progress, desc=desc
  )
  metrics.update(driving)
  metrics["episode_ds"] = {
    str(e.seed): 100 * route_completion(e, sim.route_length) * infraction_penalty(e)
    for e in episodes
  }
  metrics["inference_ms"] = inference_ms(planner, scene)
  return metrics


def run_grid(
  grid: GridConfig,
  work: str | pathlib.Path,
  runs_file: str | pathlib.Path,
  *,
  config: TrainConfig,
  sim: SimConfig,
  scene: SceneConfig,
  command: str,
  progress: bool = True,
  on_run: Callable[[dict], None] | None = None,
  skipped: list | None = None,
) -> list[dict]:
  """Runs (or resumes) the grid; appends one record per finished planner to ``runs_file``.

  Student runs that the time budget ``grid.budget_s`` no longer fits are appended to
  ``skipped`` as ``(method, size, seed)``.
  """
  grid.check()
  start = time.perf_counter()
  last_s: dict[str, float] = {}
  work, runs_file = pathlib.Path(work), pathlib.Path(runs_file)
  done = set()
  if runs_file.exists():
    for r in read_runs(runs_file, key=RUN_KEY):
      done.add(tuple(field(r, k) for k in RUN_KEY))
  train_set, val_set = ensure_data(work, grid, sim, scene, progress=progress)
  test_seeds = list(SEEDS["test"])[: grid.test_episodes]
  machine = describe_machine()
  log = MetricsLog.at(
    runs_file.with_name(runs_file.stem.replace("_runs", "") + "_metrics.jsonl"), append=True
  )
  base = {
    **dataclasses.asdict(config),
    **{f"sim_{k}": v for k, v in dataclasses.asdict(sim).items()},
    "distractors": scene.distractors,
    "train_episodes": grid.train_episodes,
    "train_frames": len(train_set),
    "val_episodes": grid.val_episodes,
    "test_episodes": grid.test_episodes,
  }

  def finish(method, size, seed, planner, train_info):
    desc = f"closed loop {method} {size} seed {seed}"
    metrics = evaluate_planner(
      planner, val_set, test_seeds, sim=sim, scene=scene, progress=progress, desc=desc
    )
    metrics.update(train_info)
    settings = {**base, "size": size, "params": num_params(planner)}
    record = make_record(method, seed, settings, metrics, command=command, machine=machine)
    append_run(runs_file, record)
    print(
      f"{method} {size} seed {seed}: DS {metrics['driving_score']:.1f}, "
      f"collisions {metrics['collision_rate']:.0f}%, L1 {metrics['l1']:.3f} m",
      flush=True,
    )
    if on_run is not None:
      on_run(record)

  common = {"config": config, "scene": scene, "log": log, "progress": progress}
  teacher_path = work / f"teacher_{grid.train_episodes}_{config.epochs}.npz"
  if teacher_path.exists():
    teacher, _ = load_planner(teacher_path)
    info = {}
  else:
    teacher, info = train("teacher", "teacher", train_set, seed=0, **common)
    save_planner(teacher, "teacher", teacher_path)
  if ("teacher", "teacher", 0) not in done:
    finish("teacher", "teacher", 0, teacher, info)
  for method, size, seed in grid.cells():
    if (method, size, seed) in done:
      continue
    began = time.perf_counter()
    # the last run of this size, else the longest run so far, estimates the next one
    estimate = last_s.get(size, max(last_s.values(), default=0.0))
    if grid.budget_s is not None and began - start + estimate > grid.budget_s:
      print(f"{method} {size} seed {seed}: skipped, over the {grid.budget_s:.0f} s budget")
      if skipped is not None:
        skipped.append((method, size, seed))
      continue
    planner, info = train(method, size, train_set, seed=seed, teacher=teacher, **common)
    finish(method, size, seed, planner, info)
    last_s[size] = time.perf_counter() - began
  return read_runs(runs_file, key=RUN_KEY)
