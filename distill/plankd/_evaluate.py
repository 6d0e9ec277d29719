"""Evaluation of a hw-plan planner: open-loop L1 on expert frames, closed-loop driving on
held-out seeds (CARLA-style driving score), and CPU latency per planner step.

Driving score of episode ``i``: :math:`RC_i \\cdot IP_i` with route completion
:math:`RC_i = \\min(1, \\text{progress}_i / \\text{route})` and infraction penalty
:math:`IP_i = 0.60^{\\#\\text{collisions}} \\cdot 0.65^{\\#\\text{off-road}}` (the CARLA
leaderboard's coefficients for vehicle and layout collisions); ``DS = 100 · mean_i RC_i IP_i``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from distill.plankd._controller import waypoint_controller
from distill.plankd._data import Dataset
from distill.plankd._losses import safety_scores
from distill.plankd._planner import Planner
from distill.plankd._scene import SceneConfig, measurements, rasterize
from distill.plankd._sim import EpisodeResult, SimConfig, closed_loop_episode, make_env
from distill.plankd._train import scene_inputs
from fira_jax.lab.metrics import progress_bar

__all__ = [
  "COLLISION_PENALTY",
  "OFFROAD_PENALTY",
  "open_loop",
  "closed_loop",
  "driving_metrics",
  "route_completion",
  "infraction_penalty",
  "inference_ms",
  "plan_function",
]

COLLISION_PENALTY = 0.60
OFFROAD_PENALTY = 0.65


@functools.partial(jax.jit, static_argnums=(0, 2))
def _predict(graphdef, state, scene, batch):
  planner = nnx.merge(graphdef, state)
  x = scene_inputs(batch, scene)
  wp, _, _ = planner(x["bev"], x["meas"])
  s = safety_scores(batch["waypoints"], x["aligned"], x["amask"])
  return wp, s


def open_loop(
  planner: Planner, data: Dataset, scene: SceneConfig, *, batch_size: int = 256
) -> dict[str, float]:
  """Masked waypoint errors on expert frames: ``l1`` (mean absolute error between predicted
  and expert waypoints over valid coordinates),
  ``fde`` (the same at the last waypoint) and ``l1_safety`` (waypoints weighted by s / Σs)."""
  graphdef, state = nnx.split(planner)
  err_sum = n = last_sum = n_last = safety_sum = n_safety = 0.0
  for i in range(0, len(data), batch_size):
    b = data.batch(np.arange(i, min(i + batch_size, len(data))))
    wp, s = _predict(graphdef, state, scene, b)
    err = np.abs(np.asarray(wp) - b["waypoints"]).mean(-1)  # (B, K)
    m = b["wp_mask"].astype(float)
    w = np.asarray(s) * m
    has = w.sum(-1) > 0
    w = w / np.maximum(w.sum(-1, keepdims=True), 1e-9)
    err_sum += (err * m).sum()
    n += m.sum()
    last_sum += (err[:, -1] * m[:, -1]).sum()
    n_last += m[:, -1].sum()
    safety_sum += (err * w).sum(-1)[has].sum()
    n_safety += has.sum()
  return {
    "l1": float(err_sum / max(n, 1)),
    "fde": float(last_sum / max(n_last, 1)),
    "l1_safety": float(safety_sum / max(n_safety, 1)),
  }


def plan_function(planner: Planner, scene: SceneConfig):
  """``(ego, others, distractors) -> waypoints (K, 2)``: raster and planner in one jit."""
  graphdef, state = nnx.split(planner)

  @jax.jit
  def plan(state, ego, others, distractors):
    model = nnx.merge(graphdef, state)
    bev = rasterize(ego, others, distractors, scene)[None]
    wp, _, _ = model(bev, measurements(ego, scene)[None])
    return wp[0]

  return lambda ego, others, distractors: np.asarray(plan(state, ego, others, distractors))


def route_completion(episode: EpisodeResult, route_length: float) -> float:
  """:math:`RC = \\min(1, \\text{progress} / \\text{route})`."""
  return min(1.0, max(episode.progress, 0.0) / route_length)


def infraction_penalty(episode: EpisodeResult) -> float:
  """:math:`IP = 0.60^{\\#\\text{collisions}} \\cdot 0.65^{\\#\\text{off-road}}`."""
  return COLLISION_PENALTY**episode.collisions * OFFROAD_PENALTY**episode.offroad


def driving_metrics(episodes: Sequence[EpisodeResult], route_length: float) -> dict[str, float]:
  """Driving score, route completion, infraction penalty, collision rate and the rest."""
  rc = np.array([route_completion(e, route_length) for e in episodes])
  ip = np.array([infraction_penalty(e) for e in episodes])
  km = max(sum(max(e.progress, 0.0) for e in episodes) / 1000.0, 1e-9)
  return {
    "driving_score": float(100 * np.mean(rc * ip)),
    "route_completion": float(100 * np.mean(rc)),
    "infraction_penalty": float(np.mean(ip)),
    "collision_rate": float(100 * np.mean([e.collisions > 0 for e in episodes])),
    "collisions_per_km": float(sum(e.collisions for e in episodes) / km),
    "offroad": int(sum(e.offroad for e in episodes)),
    "blocked": int(sum(e.blocked for e in episodes)),
    "timeouts": int(sum(e.timeout for e in episodes)),
    "mean_speed": float(np.mean([e.mean_speed for e in episodes])),
    "episodes": len(episodes),
  }


def closed_loop(
  planner: Planner,
  seeds: Sequence[int],
  *,
  sim: SimConfig | None = None,
  scene: SceneConfig | None = None,
  progress: bool = True,
  desc: str = "closed loop",
) -> tuple[dict[str, float], list[EpisodeResult]]:
  """Drives ``planner`` through the waypoint controller on each seed."""
  scene = scene or SceneConfig()
  sim = sim or SimConfig()
  env = make_env(sim, scene)
  plan = plan_function(planner, scene)
  control = functools.partial(waypoint_controller, dt=scene.dt * scene.waypoint_stride)
  episodes = []
  bar = progress_bar(total=len(seeds), desc=desc, disable=not progress, unit="ep")
  for seed in seeds:
    episodes.append(closed_loop_episode(env, int(seed), plan, control, sim, scene))
    bar.update(1)
  bar.close()
  env.close()
  return driving_metrics(episodes, sim.route_length), episodes


def inference_ms(planner: Planner, scene: SceneConfig, *, repeats: int = 200) -> float:
  """Median milliseconds of a jitted batch-1 planner forward on a raster (CPU latency)."""
  graphdef, state = nnx.split(planner)

  @jax.jit
  def fwd(state, bev, meas):
    return nnx.merge(graphdef, state)(bev, meas)[0]

  h, w = scene.shape
  bev, meas = jnp.zeros((1, h, w, 5)), jnp.zeros((1, 3 + scene.lanes))
  fwd(state, bev, meas).block_until_ready()
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    fwd(state, bev, meas).block_until_ready()
    times.append(time.perf_counter() - t)
  return float(1000 * np.median(times))
