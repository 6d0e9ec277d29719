"""PlanKD's training-only modules: the variational information bottleneck and the waypoint
attention. Both work with any planner (they see only feature maps, the BEV and waypoints)."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from distill._validation import check_ndim

__all__ = ["VIBEncoder", "VIBDecoder", "VIB", "BEVEncoder", "WaypointAttention"]


def _leaky(x):
  return jax.nn.leaky_relu(x, 0.01)


class VIBEncoder(nnx.Module):
  r"""``h (B, D)`` → posterior ``(mu, sigma)`` and a sample ``z``.

  MLP ``D → hidden → hidden → 2·z_dim`` (LeakyReLU 0.01), then
  :math:`\mu = o_{:Z}`, :math:`\sigma = \operatorname{softplus}(o_{Z:} - 5)`,
  :math:`z = \mu + \sigma \odot \epsilon`, :math:`\epsilon \sim N(0, I)`.
  """

  def __init__(self, in_dim: int, *, z_dim: int = 256, hidden: int = 512, rngs: nnx.Rngs):
    self.z_dim = z_dim
    self.l1 = nnx.Linear(in_dim, hidden, rngs=rngs)
    self.l2 = nnx.Linear(hidden, hidden, rngs=rngs)
    self.l3 = nnx.Linear(hidden, 2 * z_dim, rngs=rngs)

  def __call__(self, h: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(mu, sigma, z)``, each ``(B, z_dim)``; ``key`` draws :math:`\\epsilon`."""
    check_ndim("h", h, 2)
    o = self.l3(_leaky(self.l2(_leaky(self.l1(h)))))
    mu = o[:, : self.z_dim]
    sigma = jax.nn.softplus(o[:, self.z_dim :] - 5.0)
    return mu, sigma, mu + sigma * jax.random.normal(key, mu.shape, mu.dtype)


class VIBDecoder(nnx.Module):
  """``z (B, z_dim)`` → logits ``(B, sum(class_sizes))``: MLP ``z_dim → hidden → hidden → Σc``."""

  def __init__(
    self, class_sizes: Sequence[int], *, z_dim: int = 256, hidden: int = 512, rngs: nnx.Rngs
  ):
    self.class_sizes = tuple(int(c) for c in class_sizes)
    self.l1 = nnx.Linear(z_dim, hidden, rngs=rngs)
    self.l2 = nnx.Linear(hidden, hidden, rngs=rngs)
    self.l3 = nnx.Linear(hidden, sum(self.class_sizes), rngs=rngs)

  def __call__(self, z: jax.Array) -> jax.Array:
    return self.l3(_leaky(self.l2(_leaky(self.l1(z)))))


class VIB(nnx.Module):
  """The shared variational bottleneck of teacher and student features.

  Args:
    init_dim: ``D`` of :func:`~distill.plankd.vib_features`.
    class_sizes: classes of each auxiliary target the code must predict.
    z_dim: code size (official 256).
    hidden: MLP width (official 512).
  """

  def __init__(
    self,
    init_dim: int,
    class_sizes: Sequence[int],
    *,
    z_dim: int = 256,
    hidden: int = 512,
    rngs: nnx.Rngs,
  ):
    self.encoder = VIBEncoder(init_dim, z_dim=z_dim, hidden=hidden, rngs=rngs)
    self.decoder = VIBDecoder(class_sizes, z_dim=z_dim, hidden=hidden, rngs=rngs)

  def encode(self, h: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(mu, sigma, z)``."""
    return self.encoder(h, key)

  def __call__(self, h: jax.Array, key: jax.Array):
    """``(mu, sigma, z, logits)``."""
    mu, sigma, z = self.encoder(h, key)
    return mu, sigma, z, self.decoder(z)


class BEVEncoder(nnx.Module):
  """A 4-stage conv net (stride 2 each, ReLU) with global average pooling: ``(B, H, W, C)`` →
  ``(B, widths[-1])``."""

  def __init__(
    self, in_channels: int, widths: Sequence[int] = (32, 64, 128, 256), *, rngs: nnx.Rngs
  ):
    chans = [in_channels, *widths]
    self.convs = nnx.List(
      [
        nnx.Conv(a, b, (3, 3), strides=(2, 2), padding="SAME", rngs=rngs)
        for a, b in zip(chans[:-1], chans[1:], strict=True)
      ]
    )
    self.out_dim = int(widths[-1])

  def __call__(self, x: jax.Array) -> jax.Array:
    for conv in self.convs:
      x = jax.nn.relu(conv(x))
    return jnp.mean(x, axis=(1, 2))


class WaypointAttention(nnx.Module):
  r"""Attention over the ground-truth waypoints, queried by the scene.

  .. math::
    q = W_q\,\mathrm{MLP}([E(\mathrm{bev} \oplus xy), m]),\quad
    k_j = W_k\,\mathrm{MLP}(w_j),\quad a = \operatorname{softmax}_j(q \cdot k_j / \sqrt{d})

  The BEV gets two extra channels, the metric ``(x, y)`` of each pixel centre.

  Args:
    in_channels: BEV channels (without the coordinates).
    meas_dim: measurement size.
    coords: ``((x_first, x_last), (y_first, y_last))`` pixel-centre coordinates of the first
      and last row/column of the raster, in metres.
    d: attention width (official 128).
    bev_encoder: any module mapping ``(B, H, W, in_channels + 2)`` to ``(B, F)`` with an
      ``out_dim`` attribute (default :class:`BEVEncoder`).
  """

  def __init__(
    self,
    in_channels: int,
    meas_dim: int,
    *,
    coords: tuple[tuple[float, float], tuple[float, float]],
    d: int = 128,
    bev_encoder: nnx.Module | None = None,
    rngs: nnx.Rngs,
  ):
    self.coords = tuple(tuple(float(v) for v in c) for c in coords)
    self.encoder = bev_encoder or BEVEncoder(in_channels + 2, rngs=rngs)
    f = self.encoder.out_dim
    self.q1 = nnx.Linear(f + meas_dim, 512, rngs=rngs)
    self.q2 = nnx.Linear(512, 256, rngs=rngs)
    self.wq = nnx.Linear(256, d, rngs=rngs)
    self.k1 = nnx.Linear(2, 128, rngs=rngs)
    self.k2 = nnx.Linear(128, 64, rngs=rngs)
    self.wk = nnx.Linear(64, d, rngs=rngs)
    self.d = d

  def _with_coords(self, bev: jax.Array) -> jax.Array:
    b, h, w, _ = bev.shape
    (x0, x1), (y0, y1) = self.coords
    xs = jnp.broadcast_to(jnp.linspace(x0, x1, h)[:, None], (h, w))
    ys = jnp.broadcast_to(jnp.linspace(y0, y1, w)[None, :], (h, w))
    grid = jnp.broadcast_to(jnp.stack([xs, ys], -1)[None], (b, h, w, 2)).astype(bev.dtype)
    return jnp.concatenate([bev, grid], axis=-1)

  def __call__(self, bev: jax.Array, meas: jax.Array, waypoints: jax.Array) -> jax.Array:
    """Attention ``(B, K)`` over ``waypoints (B, K, 2)``."""
    check_ndim("bev", bev, 4)
    check_ndim("waypoints", waypoints, 3)
    feat = self.encoder(self._with_coords(bev))
    q = self.wq(jax.nn.relu(self.q2(jax.nn.relu(self.q1(jnp.concatenate([feat, meas], -1))))))
    k = self.wk(jax.nn.relu(self.k2(jax.nn.relu(self.k1(waypoints)))))
    return jax.nn.softmax(jnp.einsum("bd,bkd->bk", q, k) / jnp.sqrt(float(self.d)), axis=-1)
