"""The hw-plan scene: rasteriser, targets, actors, measurements and the controller."""

import math

import jax.numpy as jnp
import numpy as np

from distill import plankd

SCENE = plankd.SceneConfig()
NO_CLUTTER = np.zeros((1, 3), np.float32)


def _other(x, y, heading=0.0, speed=20.0, length=5.0, width=2.0):
  return [x, y, heading, speed, length, width, 1.0]


def _pixel_centres():
  (x0, x1), (y0, y1) = SCENE.coords
  h, w = SCENE.shape
  return np.meshgrid(np.linspace(x0, x1, h), np.linspace(y0, y1, w), indexing="ij")


def _box_in_ego_frame(ego, other):
  others = np.zeros((30, 7), np.float32)
  others[0] = other
  bev = np.asarray(plankd.rasterize(jnp.asarray(ego), jnp.asarray(others), NO_CLUTTER, SCENE))
  gx, gy = _pixel_centres()
  box = bev[..., 0] > 0
  return bev, box, gx[box], gy[box]


def test_rasterizer_puts_a_vehicle_where_its_pose_says():
  ego = np.array([100.0, 4.0, 0.0, 25.0], np.float32)
  bev, box, xs, ys = _box_in_ego_frame(ego, _other(110.0, 8.0))
  assert bev.shape == (96, 48, 5)
  assert abs(xs.mean() - 10.0) < 0.51 and abs(ys.mean() - 4.0) < 0.51
  assert np.ptp(xs) > np.ptp(ys)  # 5 m long along x, 2 m wide
  np.testing.assert_allclose(bev[box, 1], (20.0 - 25.0) / 10.0)
  assert bev[..., 1][~box].max() == 0
  # a turned ego: the same vehicle in the ego frame lands on the same pixels
  h = math.pi / 6
  rot = np.array([[math.cos(h), -math.sin(h)], [math.sin(h), math.cos(h)]])
  p = np.array([100.0, 4.0]) + rot @ np.array([10.0, 4.0])
  _, box2, _, _ = _box_in_ego_frame(np.array([100.0, 4.0, h, 25.0]), _other(*p, heading=h))
  assert (box2 != box).sum() <= 4
  # a vehicle across the road is wide along x' (its length along y)
  _, _, xs3, ys3 = _box_in_ego_frame(ego, _other(120.0, 4.0, heading=math.pi / 2))
  assert np.ptp(ys3) > np.ptp(xs3)


def test_rasterizer_road_markings_and_distractors():
  ego = np.array([50.0, 0.0, 0.0, 25.0], np.float32)
  clutter = np.array([[60.0, -12.0, 2.0]], np.float32)
  bev = np.asarray(plankd.rasterize(jnp.asarray(ego), jnp.zeros((30, 7)), clutter, SCENE))
  _, gy = _pixel_centres()
  drivable = bev[0, :, 2] > 0
  np.testing.assert_array_equal(drivable, (gy[0] >= -2) & (gy[0] <= 14))
  assert bev[..., 3].sum() > 0 and bev[..., 4].sum() > 0
  off = plankd.SceneConfig(distractors=False)
  assert (
    np.asarray(plankd.rasterize(jnp.asarray(ego), jnp.zeros((30, 7)), clutter, off))[..., 4].sum()
    == 0
  )


def test_waypoints_of_a_straight_constant_speed_drive_are_evenly_spaced_on_x():
  t = np.arange(60) * 0.2
  ego = np.stack([100 + 25 * t, np.full_like(t, 8.0), np.zeros_like(t), np.full_like(t, 25.0)], -1)
  episode = np.zeros(60, np.int32)
  episode[40:] = 1
  wp, mask = plankd.waypoint_targets(ego.astype(np.float32), episode, SCENE)
  np.testing.assert_allclose(wp[0, :, 0], 10.0 * np.arange(1, 11), rtol=1e-5)
  np.testing.assert_allclose(wp[0, :, 1], 0.0, atol=1e-4)
  assert mask[0].all() and mask[19].all() and not mask[20].all()
  assert mask[30].sum() == 4  # frames 32..38 stay in episode 0
  assert not mask[39].any()


def test_aux_labels_lead_vehicle_and_blocked_lanes():
  ego = np.array([[100.0, 4.0, 0.0, 25.0]], np.float32)
  others = np.zeros((1, 30, 7), np.float32)
  others[0, 0] = _other(120.0, 4.0)  # lead in the ego lane
  others[0, 1] = _other(95.0, 8.0)  # beside, right lane
  labels = plankd.aux_labels(
    ego, others, np.array([1]), np.array([0]), np.array([-1.0]), np.zeros(1, int), SCENE
  )
  # lane_change left, brake, lead, left free, right blocked, middle lane, steady speed
  np.testing.assert_array_equal(labels[0], [1, 1, 1, 0, 1, 1, 1])


def test_actors_nearest_in_ego_frame_and_constant_velocity_prediction():
  ego = jnp.array([100.0, 4.0, 0.0, 25.0])
  others = np.zeros((30, 7), np.float32)
  others[0] = _other(130.0, 4.0, speed=20.0)
  others[1] = _other(105.0, 0.0, speed=30.0)
  others[2] = _other(500.0, 0.0)  # outside the raster
  pos, aligned, mask = plankd.actors(ego, jnp.asarray(others), SCENE)
  assert pos.shape == (15, 2) and aligned.shape == (10, 15, 2) and int(mask.sum()) == 2
  np.testing.assert_allclose(pos[:2], [[5.0, -4.0], [30.0, 0.0]], atol=1e-4)
  np.testing.assert_allclose(aligned[-1, 0], [5.0 + 30 * 4.0, -4.0], atol=1e-3)


def test_measurements():
  m = np.asarray(plankd.measurements(jnp.array([[0.0, 9.0, 0.1, 15.0]]), SCENE))
  np.testing.assert_allclose(m[0], [0.5, math.sin(0.1), 0.5, 0, 0, 1, 0], rtol=1e-5)


def test_controller_speed_and_steering_signs():
  straight = np.stack([10.0 * np.arange(1, 11), np.zeros(10)], -1)
  a = plankd.waypoint_controller(straight, 20.0)
  assert a[0] > 0 and a[1] == 0  # 25 m/s asked, 20 m/s driven
  right = straight + np.array([0.0, 2.0])
  assert plankd.waypoint_controller(right, 25.0)[1] > 0
  assert np.all(np.abs(plankd.waypoint_controller(straight * 0, 30.0)) <= 1)
