"""The waypoint controller: planned waypoints → (acceleration, steering), in the style of
InterFuser's and TCP's controllers."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["waypoint_controller", "MAX_ACCEL", "MAX_STEER", "WHEELBASE_HALF"]

MAX_ACCEL = 5.0  # m/s², highway-env's ContinuousAction range
MAX_STEER = math.pi / 4
WHEELBASE_HALF = 2.5  # half the 5 m car length: highway-env's bicycle model


def waypoint_controller(
  waypoints: np.ndarray,
  speed: float,
  *,
  dt: float = 0.4,
  gain: float = 1.0,
  min_lookahead: float = 6.0,
  lookahead_time: float = 0.8,
) -> np.ndarray:
  r"""The normalised action ``[accel, steer] ∈ [-1, 1]²`` that follows ``waypoints``.

  Speed: :math:`v^* = \lVert w_2 - w_1\rVert / \Delta`,
  :math:`a = \mathrm{clip}(g(v^* - v), \pm 5)`.
  Pure pursuit: aim at the first waypoint with :math:`\lVert w\rVert \ge \max(6, 0.8 v)` (the
  last one if none), at distance :math:`\ell`:
  :math:`\delta = \mathrm{clip}(\arctan(2 \cdot 2.5\, y / \ell^2), \pm\pi/4)`.

  Args:
    waypoints: ``(K, 2)`` in the ego frame (x forward, y right).
    speed: current speed in m/s.
    dt: seconds between waypoints.
    gain: speed gain.
    min_lookahead: minimal pursuit distance in metres.
    lookahead_time: pursuit distance per m/s of speed.
  """
  w = np.asarray(waypoints, np.float64)
  target = np.linalg.norm(w[1] - w[0]) / dt
  accel = np.clip(gain * (target - speed), -MAX_ACCEL, MAX_ACCEL)
  dist = np.linalg.norm(w, axis=-1)
  far = np.nonzero(dist >= max(min_lookahead, lookahead_time * speed))[0]
  j = int(far[0]) if len(far) else len(w) - 1
  ell2 = max(float(dist[j]) ** 2, 1e-6)
  steer = np.clip(math.atan(2 * WHEELBASE_HALF * w[j, 1] / ell2), -MAX_STEER, MAX_STEER)
  return np.array([accel / MAX_ACCEL, steer / MAX_STEER], np.float32)
