"""The highway-env side of hw-plan: expert episodes and closed-loop episodes.

The only module that imports the simulator (``pip install "fira-jax[sim]"``). No rendering is
used; ``SDL_VIDEODRIVER`` is set to ``dummy`` so pygame never opens a window.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import numpy as np

from distill.plankd._scene import SceneConfig
from fira_jax.lab.seeds import np_rng

__all__ = [
  "SimConfig",
  "simulator_available",
  "make_env",
  "expert_episode",
  "closed_loop_episode",
  "EpisodeResult",
]

MAX_VEHICLES = 30


@dataclasses.dataclass(frozen=True)
class SimConfig:
  """The highway-env scenario.

  Attributes:
    vehicles_count: other vehicles.
    vehicles_density: highway-env's density.
    duration: episode length in seconds.
    route_length: closed-loop route in metres of road progress.
    num_distractors: static off-road clutter items per episode.
  """

  vehicles_count: int = 30
  vehicles_density: float = 1.5
  duration: float = 40.0
  route_length: float = 600.0
  num_distractors: int = 24


def simulator_available() -> bool:
  """True when ``highway-env`` can be imported."""
  try:
    import highway_env  # noqa: F401
  except ImportError:
    return False
  return True


def make_env(sim: SimConfig, scene: SceneConfig):
  """A ``highway-fast-v0`` env with continuous actions (acceleration ±5, steering ±π/4)."""
  os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
  try:
    import gymnasium as gym
    import highway_env  # noqa: F401
  except ImportError as e:
    raise ImportError(
      'hw-plan needs the simulator: pip install "fira-jax[sim]" (highway-env)'
    ) from e
  config = dict(
    lanes_count=scene.lanes,
    vehicles_count=sim.vehicles_count,
    vehicles_density=sim.vehicles_density,
    duration=sim.duration,
    simulation_frequency=10,
    policy_frequency=round(1 / scene.dt),
    action={"type": "ContinuousAction"},
  )
  return gym.make("highway-fast-v0", config=config)


def _frame(u) -> tuple[np.ndarray, np.ndarray]:
  ego = u.vehicle
  state = np.array([ego.position[0], ego.position[1], ego.heading, ego.speed], np.float32)
  others = np.zeros((MAX_VEHICLES, 7), np.float32)
  rows = [v for v in u.road.vehicles if v is not ego]
  rows.sort(key=lambda v: float(np.sum((v.position - ego.position) ** 2)))
  for i, v in enumerate(rows[:MAX_VEHICLES]):
    others[i] = (v.position[0], v.position[1], v.heading, v.speed, v.LENGTH, v.WIDTH, 1.0)
  return state, others


def _distractors(seed: int, x0: float, sim: SimConfig, scene: SceneConfig) -> np.ndarray:
  """Static off-road clutter ``(D, 3)`` of ``(x, y, radius)`` along the episode's road."""
  rng = np_rng(seed, "plankd/distractors")
  d = sim.num_distractors
  road_top = -scene.lane_width / 2
  road_bottom = (scene.lanes - 0.5) * scene.lane_width
  side = rng.random(d) < 0.5
  off = rng.uniform(3.0, 18.0, d)
  y = np.where(side, road_top - off, road_bottom + off)
  x = x0 + rng.uniform(-30.0, 1300.0, d)
  return np.stack([x, y, rng.uniform(0.8, 2.5, d)], -1).astype(np.float32)


def expert_episode(env, seed: int, sim: SimConfig, scene: SceneConfig) -> dict | None:
  """One episode driven by highway-env's IDM/MOBIL driver as ego; ``None`` if it crashed.

  Returns:
    ``ego (T, 4)``, ``others (T, 30, 7)``, ``lane``, ``target_lane``, ``accel`` ``(T,)`` and
    ``distractors (D, 3)``.
  """
  from highway_env.vehicle.behavior import IDMVehicle

  env.reset(seed=seed)
  u = env.unwrapped
  ego = u.vehicle
  expert = IDMVehicle(
    u.road,
    ego.position,
    ego.heading,
    ego.speed,
    target_lane_index=ego.lane_index,
    target_speed=30.0,
  )
  u.road.vehicles[u.road.vehicles.index(ego)] = expert
  u.controlled_vehicles = [expert]
  out = {k: [] for k in ("ego", "others", "lane", "target_lane", "accel")}
  distractors = _distractors(seed, float(ego.position[0]), sim, scene)
  steps = round(sim.duration / scene.dt)
  for _ in range(steps):
    state, others = _frame(u)
    out["ego"].append(state)
    out["others"].append(others)
    out["lane"].append(expert.lane_index[2])
    out["target_lane"].append(expert.target_lane_index[2])
    _, _, terminated, truncated, _ = env.step(np.zeros(2, np.float32))
    out["accel"].append(float(expert.action.get("acceleration", 0.0)))
    if expert.crashed:
      return None
    if terminated or truncated:
      break
  arrays = {
    k: np.asarray(v, np.float32 if k in ("ego", "others", "accel") else np.int32)
    for k, v in out.items()
  }
  arrays["distractors"] = distractors
  return arrays


@dataclasses.dataclass
class EpisodeResult:
  """One closed-loop episode.

  Attributes:
    seed: the env seed.
    progress: metres of road progress.
    collisions: vehicle collisions (0 or 1: a crash ends the episode).
    offroad: off-road events (0 or 1).
    blocked: ended by standing still for 5 s.
    timeout: ended by the time limit.
    steps: planner steps.
    mean_speed: m/s.
    frames: ``(ego, others)`` per step when recorded, else empty.
    distractors: the episode's static clutter ``(D, 3)`` when recorded.
  """

  seed: int
  progress: float
  collisions: int
  offroad: int
  blocked: bool
  timeout: bool
  steps: int
  mean_speed: float
  frames: list = dataclasses.field(default_factory=list)
  distractors: np.ndarray | None = None


def closed_loop_episode(
  env,
  seed: int,
  plan: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
  control: Callable[[np.ndarray, float], np.ndarray],
  sim: SimConfig,
  scene: SceneConfig,
  *,
  record: bool = False,
) -> EpisodeResult:
  """Drives the ego with ``control(plan(ego, others, distractors), speed)`` until the route is
  done, a collision, leaving the road, standing still (< 1 m/s) for 5 s, or the time limit."""
  env.reset(seed=seed)
  u = env.unwrapped
  ego = u.vehicle
  x0 = float(ego.position[0])
  distractors = _distractors(seed, x0, sim, scene)
  steps = round(sim.duration / scene.dt)
  still = 0
  speeds = []
  frames = []
  end = {"collisions": 0, "offroad": 0, "blocked": False, "timeout": False}
  for _ in range(steps):
    state, others = _frame(u)
    if record:
      frames.append((state, others))
    action = control(plan(state, others, distractors), float(ego.speed))
    env.step(np.asarray(action, np.float32))
    speeds.append(float(ego.speed))
    still = still + 1 if ego.speed < 1.0 else 0
    if ego.crashed:
      end["collisions"] = 1
      break
    if not ego.on_road:
      end["offroad"] = 1
      break
    if float(ego.position[0]) - x0 >= sim.route_length:
      break
    if still * scene.dt >= 5.0:
      end["blocked"] = True
      break
  else:
    end["timeout"] = True
  return EpisodeResult(
    seed=seed,
    progress=float(ego.position[0]) - x0,
    steps=len(speeds),
    mean_speed=float(np.mean(speeds)) if speeds else 0.0,
    frames=frames,
    distractors=distractors if record else None,
    **end,
  )
