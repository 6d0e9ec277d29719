"""The BEV planners: a residual CNN over the raster, measurements, and an MLP head.

``bev (B, 96, 48, 5)`` → stem conv3×3 stride 2–GroupNorm–ReLU → 3 stages (each opens with a
stride-2 residual block with a 1×1 stride-2 projection; blocks are
conv3×3–GroupNorm–ReLU–conv3×3–GroupNorm) →
global average pool → concat the 7 measurements → MLP ``c+7 → h → h → 2K + 17``: waypoints and
auxiliary logits. Waypoints are the cumulative sum of per-step offsets, ``WAYPOINT_STEP`` metres
per output unit (the scale of one 0.4 s step at highway speed). The first stage's output
(stride 4, ``24 × 12``) is the feature-distillation tap, the same spatial size in every planner.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

__all__ = ["WAYPOINT_STEP", "PlannerConfig", "PLANNERS", "Planner", "num_params"]


WAYPOINT_STEP = 10.0


@dataclasses.dataclass(frozen=True)
class PlannerConfig:
  """A planner's sizes.

  Attributes:
    widths: channels of the stem and the three stages.
    blocks: residual blocks per stage.
    hidden: MLP width.
  """

  widths: tuple[int, int, int, int]
  blocks: tuple[int, int, int]
  hidden: int


# Parameter ratios 1 : 0.51 : 0.23 : 0.071, as the official 52.9M / 26.3M / 11.7M / 3.8M.
PLANNERS: dict[str, PlannerConfig] = {
  "teacher": PlannerConfig((32, 64, 128, 256), (2, 2, 2), 256),
  "S-L": PlannerConfig((32, 48, 96, 192), (1, 1, 2), 256),
  "S-M": PlannerConfig((24, 32, 64, 128), (1, 1, 2), 192),
  "S-S": PlannerConfig((16, 24, 48, 96), (1, 1, 1), 128),
}


def _groups(c: int) -> int:
  return 8 if c % 8 == 0 else 4


class _Block(nnx.Module):
  def __init__(self, cin: int, cout: int, stride: int, *, rngs: nnx.Rngs):
    s = (stride, stride)
    self.conv1 = nnx.Conv(cin, cout, (3, 3), strides=s, padding="SAME", rngs=rngs)
    self.norm1 = nnx.GroupNorm(cout, num_groups=_groups(cout), rngs=rngs)
    self.conv2 = nnx.Conv(cout, cout, (3, 3), padding="SAME", rngs=rngs)
    self.norm2 = nnx.GroupNorm(cout, num_groups=_groups(cout), rngs=rngs)
    self.proj = (
      nnx.Conv(cin, cout, (1, 1), strides=s, rngs=rngs) if stride != 1 or cin != cout else None
    )

  def __call__(self, x):
    y = self.norm2(self.conv2(jax.nn.relu(self.norm1(self.conv1(x)))))
    return jax.nn.relu(y + (x if self.proj is None else self.proj(x)))


class Planner(nnx.Module):
  """BEV + measurements → waypoints ``(B, K, 2)`` and auxiliary logits ``(B, A)``.

  Args:
    config: sizes (see :data:`PLANNERS`).
    in_channels: raster channels.
    meas_dim: measurement size.
    num_waypoints: ``K``.
    num_aux: auxiliary logits in all.
    rngs: parameter initialisation.
  """

  def __init__(
    self,
    config: PlannerConfig,
    *,
    in_channels: int = 5,
    meas_dim: int = 7,
    num_waypoints: int = 10,
    num_aux: int = 17,
    rngs: nnx.Rngs,
  ):
    w = config.widths
    self.config = config
    self.num_waypoints = num_waypoints
    self.stem = nnx.Conv(in_channels, w[0], (3, 3), strides=(2, 2), padding="SAME", rngs=rngs)
    self.stem_norm = nnx.GroupNorm(w[0], num_groups=_groups(w[0]), rngs=rngs)
    stages = []
    for i, n in enumerate(config.blocks):
      blocks = [_Block(w[i], w[i + 1], 2, rngs=rngs)]
      blocks += [_Block(w[i + 1], w[i + 1], 1, rngs=rngs) for _ in range(n - 1)]
      stages.append(nnx.List(blocks))
    self.stages = nnx.List(stages)
    h = config.hidden
    self.fc1 = nnx.Linear(w[3] + meas_dim, h, rngs=rngs)
    self.fc2 = nnx.Linear(h, h, rngs=rngs)
    self.head = nnx.Linear(h, 2 * num_waypoints + num_aux, rngs=rngs)

  @property
  def tap_channels(self) -> int:
    """Channels of the feature-distillation tap."""
    return self.config.widths[1]

  def features(self, bev: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The tap ``(B, H/4, W/4, C_1)`` and the pooled features ``(B, C_3)``."""
    x = jax.nn.relu(self.stem_norm(self.stem(bev)))
    tap = None
    for i, stage in enumerate(self.stages):
      for block in stage:
        x = block(x)
      if i == 0:
        tap = x
    return tap, jnp.mean(x, axis=(1, 2))

  def head_from(self, pooled: jax.Array, meas: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Waypoints ``(B, K, 2)`` and auxiliary logits from pooled features and measurements."""
    x = jax.nn.relu(self.fc1(jnp.concatenate([pooled, meas], axis=-1)))
    out = self.head(jax.nn.relu(self.fc2(x)))
    k = self.num_waypoints
    steps = out[:, : 2 * k].reshape(-1, k, 2) * WAYPOINT_STEP
    return jnp.cumsum(steps, axis=1), out[:, 2 * k :]

  def __call__(self, bev: jax.Array, meas: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(waypoints (B, K, 2), aux_logits (B, A), tap (B, h, w, C_1))``."""
    tap, pooled = self.features(bev)
    wp, aux = self.head_from(pooled, meas)
    return wp, aux, tap


def num_params(module: nnx.Module) -> int:
  """Number of trainable parameters of ``module``."""
  return int(sum(x.size for x in jax.tree.leaves(nnx.state(module, nnx.Param))))
