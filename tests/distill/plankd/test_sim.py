"""hw-plan in the highway-env simulator: expert data, lane tracking, a blind planner crashes."""

import functools

import numpy as np
import pytest

from distill.plankd._controller import waypoint_controller
from distill.plankd._scene import SceneConfig
from distill.plankd._sim import SimConfig, simulator_available

pytestmark = pytest.mark.skipif(
  not simulator_available(), reason='highway-env is not installed (pip install "fira-jax[sim]")'
)

SCENE = SceneConfig()


def _blind(speed, state, others, distractors):
  """A lane follower that ignores traffic: constant speed along its lane centre."""
  lane_y = np.clip(np.round(state[1] / 4.0), 0, 3) * 4.0
  x = speed * 0.4 * np.arange(1, 11)
  return np.stack([x, np.full(10, lane_y - state[1])], -1)


def _run(seed, sim, speed=25.0):
  from distill.plankd._sim import closed_loop_episode, make_env

  env = make_env(sim, SCENE)
  control = functools.partial(waypoint_controller, dt=0.4)
  try:
    return closed_loop_episode(
      env, seed, functools.partial(_blind, speed), control, sim, SCENE, record=True
    )
  finally:
    env.close()


def test_controller_tracks_a_lane_on_an_empty_road():
  res = _run(10000, SimConfig(vehicles_count=0, duration=10.0))
  ys = np.array([f[0][1] for f in res.frames])
  lane = np.round(ys[0] / 4.0) * 4.0
  assert res.collisions == 0 and res.offroad == 0
  assert np.max(np.abs(ys - lane)) < 0.1
  assert abs(res.mean_speed - 25.0) < 1.0


def test_a_planner_that_ignores_traffic_crashes():
  res = _run(10000, SimConfig(duration=20.0))
  assert res.collisions == 1 and res.progress < 600


def test_expert_episode_is_compact_states():
  from distill.plankd._sim import expert_episode, make_env

  sim = SimConfig(duration=4.0)
  env = make_env(sim, SCENE)
  ep = expert_episode(env, 0, sim, SCENE)
  env.close()
  assert ep is not None
  assert ep["ego"].shape == (20, 4) and ep["others"].shape == (20, 30, 7)
  assert ep["others"][..., 6].sum() > 0 and ep["distractors"].shape[1] == 3
  assert np.all(np.diff(ep["ego"][:, 0]) > 0)  # drives forward


def test_collect_in_worker_processes_matches_one_process(tmp_path):
  from distill.plankd._data import collect, load_dataset

  sim = SimConfig(duration=2.0)
  one = collect([0, 1], tmp_path / "one.npz", sim=sim, progress=False)
  two = collect([0, 1], tmp_path / "two.npz", sim=sim, progress=False, workers=2)
  assert one == two == {"episodes": 2, "frames": 20, "dropped": 0}
  a, b = load_dataset(tmp_path / "one.npz"), load_dataset(tmp_path / "two.npz")
  np.testing.assert_array_equal(a.ego, b.ego)
  np.testing.assert_array_equal(a.seeds, [0, 1])
