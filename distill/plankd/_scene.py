"""The hw-plan scene: compact per-frame states, the BEV rasteriser, measurements and targets.

A frame is stored as numbers only (never images): the ego ``(x, y, heading, speed)``, up to
``V`` other vehicles ``(x, y, heading, speed, length, width, valid)`` in world coordinates, the
ego's lane, target lane and acceleration, and per episode a few static off-road distractors.
:func:`rasterize` turns one frame into the planner's BEV; the same pure JAX function runs
offline (inside the jitted training step) and in closed loop.

The road is highway-env's straight highway: lanes along +x, lane ``i`` centred at
``y = i · lane_width``; +y is to the right of travel, so lane 0 is the leftmost.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
  "SceneConfig",
  "AUX_CLASSES",
  "AUX_NAMES",
  "rasterize",
  "measurements",
  "waypoint_targets",
  "aux_labels",
  "actors",
  "to_ego",
]

# Auxiliary targets (analogues of InterFuser's light, junction, stop, ..., brake, steer, throttle).
AUX_NAMES = (
  "lane_change",
  "brake",
  "lead_present",
  "left_blocked",
  "right_blocked",
  "lane_position",
  "speed_trend",
)
AUX_CLASSES = (3, 2, 2, 2, 2, 3, 3)


@dataclasses.dataclass(frozen=True)
class SceneConfig:
  """The raster and target geometry.

  Attributes:
    lanes: number of lanes.
    lane_width: lane width in metres.
    x_range: raster rows span ``[x_range[0], x_range[1])`` metres ahead of the ego.
    y_range: raster columns span ``[y_range[0], y_range[1])`` metres to the ego's right.
    resolution: metres per pixel.
    num_waypoints: ``K`` waypoints.
    waypoint_stride: planner steps between waypoints (2 at 5 Hz: 0.4 s).
    dt: planner step in seconds.
    num_actors: ``N`` nearest actors for the safety score.
    distractors: draw the static off-road clutter channel.
  """

  lanes: int = 4
  lane_width: float = 4.0
  x_range: tuple[float, float] = (-24.0, 72.0)
  y_range: tuple[float, float] = (-24.0, 24.0)
  resolution: float = 1.0
  num_waypoints: int = 10
  waypoint_stride: int = 2
  dt: float = 0.2
  num_actors: int = 15
  distractors: bool = True

  @property
  def shape(self) -> tuple[int, int]:
    """Raster ``(H, W)``."""
    h = round((self.x_range[1] - self.x_range[0]) / self.resolution)
    w = round((self.y_range[1] - self.y_range[0]) / self.resolution)
    return h, w

  @property
  def coords(self) -> tuple[tuple[float, float], tuple[float, float]]:
    """Pixel-centre coordinates of the first and last row and column."""
    h, w = self.shape
    r = self.resolution
    x0, y0 = self.x_range[0] + r / 2, self.y_range[0] + r / 2
    return (x0, x0 + (h - 1) * r), (y0, y0 + (w - 1) * r)


def _rot(h):
  c, s = jnp.cos(h), jnp.sin(h)
  return c, s


def to_ego(points: jax.Array, ego: jax.Array) -> jax.Array:
  r"""World points ``(..., 2)`` in the ego frame: :math:`R(-h)(p - p_{ego})`."""
  c, s = _rot(ego[2])
  d = points - ego[:2]
  return jnp.stack([c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1]], -1)


def rasterize(
  ego: jax.Array, others: jax.Array, distractors: jax.Array, config: SceneConfig
) -> jax.Array:
  """The ego-centred, ego-aligned BEV ``(H, W, 5)`` of one frame (vmap it for a batch).

  Channels: other vehicles as oriented boxes; their speed relative to the ego / 10 inside the
  boxes; drivable area; lane markings; static off-road distractors (zero when
  ``config.distractors`` is off).

  Args:
    ego: ``(4,)`` ``(x, y, heading, speed)``.
    others: ``(V, 7)`` ``(x, y, heading, speed, length, width, valid)``.
    distractors: ``(D, 3)`` ``(x, y, radius)`` of static clutter (radius 0 = none).
    config: geometry.
  """
  (x0, x1), (y0, y1) = config.coords
  h, w = config.shape
  gx, gy = jnp.meshgrid(jnp.linspace(x0, x1, h), jnp.linspace(y0, y1, w), indexing="ij")
  c, s = _rot(ego[2])
  wx = ego[0] + c * gx - s * gy  # world coordinates of the pixel centres
  wy = ego[1] + s * gx + c * gy
  dx = wx[None] - others[:, 0, None, None]
  dy = wy[None] - others[:, 1, None, None]
  co, so = jnp.cos(others[:, 2])[:, None, None], jnp.sin(others[:, 2])[:, None, None]
  lx, ly = co * dx + so * dy, -so * dx + co * dy
  inside = (
    (jnp.abs(lx) <= others[:, 4, None, None] / 2)
    & (jnp.abs(ly) <= others[:, 5, None, None] / 2)
    & (others[:, 6, None, None] > 0)
  )
  boxes = jnp.any(inside, 0).astype(jnp.float32)
  rel = (others[:, 3] - ego[3]) / 10.0
  speed = jnp.max(jnp.where(inside, rel[:, None, None], -jnp.inf), 0)
  speed = jnp.where(boxes > 0, speed, 0.0)
  half = config.lane_width / 2
  top, bottom = -half, (config.lanes - 1) * config.lane_width + half
  drivable = ((wy >= top) & (wy <= bottom)).astype(jnp.float32)
  lines = top + config.lane_width * jnp.arange(config.lanes + 1)
  near = jnp.min(jnp.abs(wy[..., None] - lines), -1) <= config.resolution / 2
  markings = near.astype(jnp.float32)
  dd = (wx[None] - distractors[:, 0, None, None]) ** 2 + (
    wy[None] - distractors[:, 1, None, None]
  ) ** 2
  clutter = jnp.any(dd <= distractors[:, 2, None, None] ** 2, 0).astype(jnp.float32)
  clutter = clutter * float(config.distractors)
  return jnp.stack([boxes, speed, drivable, markings, clutter], -1)


def lane_of(y, config: SceneConfig):
  """Index of the lane closest to lateral position ``y`` (NumPy or JAX)."""
  xp = jnp if isinstance(y, jax.Array) else np
  return xp.clip(xp.round(y / config.lane_width), 0, config.lanes - 1).astype(xp.int32)


def measurements(ego: jax.Array, config: SceneConfig) -> jax.Array:
  """The 7 measurements of a frame ``(..., 4)`` → ``(..., 3 + lanes)``: speed / 30,
  sin(heading − lane heading), lateral offset from the lane centre / 2 m, lane one-hot."""
  lane = lane_of(ego[..., 1], config)
  offset = ego[..., 1] - lane * config.lane_width
  one_hot = jax.nn.one_hot(lane, config.lanes)
  scalars = jnp.stack([ego[..., 3] / 30.0, jnp.sin(ego[..., 2]), offset / 2.0], -1)
  return jnp.concatenate([scalars, one_hot], -1)


def waypoint_targets(
  ego: np.ndarray, episode: np.ndarray, config: SceneConfig
) -> tuple[np.ndarray, np.ndarray]:
  r"""Future ego positions in the ego frame at ``t``: :math:`w_k = R(-h_t)(p_{t+sk} - p_t)`.

  Args:
    ego: ``(F, 4)`` frames of consecutive episodes.
    episode: ``(F,)`` episode id of each frame.
    config: ``num_waypoints`` and ``waypoint_stride``.

  Returns:
    ``(waypoints (F, K, 2), mask (F, K))``; waypoints past an episode's end are 0, mask 0.
  """
  f = len(ego)
  k = config.num_waypoints
  offsets = config.waypoint_stride * np.arange(1, k + 1)
  idx = np.arange(f)[:, None] + offsets[None]
  safe = np.minimum(idx, f - 1)
  mask = (idx < f) & (episode[safe] == episode[:, None])
  d = ego[safe, :2] - ego[:, None, :2]
  c, s = np.cos(ego[:, 2])[:, None], np.sin(ego[:, 2])[:, None]
  w = np.stack([c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1]], -1)
  return np.where(mask[..., None], w, 0.0).astype(np.float32), mask


def aux_labels(
  ego: np.ndarray,
  others: np.ndarray,
  lane: np.ndarray,
  target_lane: np.ndarray,
  accel: np.ndarray,
  episode: np.ndarray,
  config: SceneConfig,
) -> np.ndarray:
  """The 7 auxiliary labels ``(F, 7)`` (see :data:`AUX_NAMES`, classes :data:`AUX_CLASSES`)."""
  f = len(ego)
  change = np.where(target_lane < lane, 1, np.where(target_lane > lane, 2, 0))
  brake = (accel < -0.5).astype(int)
  valid = others[..., 6] > 0
  dx = others[..., 0] - ego[:, None, 0]
  olane = lane_of(others[..., 1], config)
  same = valid & (olane == lane[:, None])
  lead = np.any(same & (dx > 0) & (dx < 40), 1).astype(int)

  def blocked(side):
    exists = (lane + side >= 0) & (lane + side < config.lanes)
    near = np.any(valid & (olane == (lane + side)[:, None]) & (np.abs(dx) < 15), 1)
    return (~exists | near).astype(int)

  position = np.where(lane == 0, 0, np.where(lane == config.lanes - 1, 2, 1))
  ahead = np.minimum(np.arange(f) + 10, f - 1)
  ahead = np.where(episode[ahead] == episode, ahead, np.arange(f))
  dv = ego[ahead, 3] - ego[:, 3]
  trend = np.where(dv < -1, 0, np.where(dv > 1, 2, 1))
  return np.stack([change, brake, lead, blocked(-1), blocked(1), position, trend], -1)


def actors(
  ego: jax.Array, others: jax.Array, config: SceneConfig
) -> tuple[jax.Array, jax.Array, jax.Array]:
  """The ``N`` nearest other vehicles inside the raster, in the ego frame (one frame).

  Returns:
    ``actor_pos (N, 2)`` now, ``actor_pos_aligned (K, N, 2)`` under constant velocity at each
    waypoint's time, and ``actor_mask (N,)``.
  """
  p = to_ego(others[:, :2], ego)
  (x0, x1), (y0, y1) = config.x_range, config.y_range
  inside = (others[:, 6] > 0) & (p[:, 0] >= x0) & (p[:, 0] < x1) & (p[:, 1] >= y0) & (p[:, 1] < y1)
  dist = jnp.where(inside, jnp.sum(p**2, -1), jnp.inf)
  n = min(config.num_actors, others.shape[0])
  order = jnp.argsort(dist)[:n]
  mask = inside[order]
  vel = others[order, 3, None] * jnp.stack(
    [jnp.cos(others[order, 2]), jnp.sin(others[order, 2])], -1
  )
  t = config.dt * config.waypoint_stride * jnp.arange(1, config.num_waypoints + 1)
  future = others[order, None, :2] + t[None, :, None] * vel[:, None]  # (N, K, 2)
  aligned = to_ego(jnp.swapaxes(future, 0, 1), ego)
  pos = jnp.where(mask[:, None], p[order], 0.0)
  aligned = jnp.where(mask[None, :, None], aligned, 0.0)
  if n < config.num_actors:
    pad = config.num_actors - n
    pos = jnp.pad(pos, ((0, pad), (0, 0)))
    aligned = jnp.pad(aligned, ((0, 0), (0, pad), (0, 0)))
    mask = jnp.pad(mask, (0, pad))
  return pos, aligned, mask
