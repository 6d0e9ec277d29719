"""Node importance for triad selection: per-node loss gradients, their dot product with the mean
gradient, and the influence function with a LiSSA inverse-Hessian-vector estimate.

Each node ``v`` is scored by the cross-entropy ``l_v`` of the node at its first train edge (a
one-edge forward). With ``L_bar`` the mean of ``l_v`` over the task's nodes and ``s`` an
estimate of ``H^{-1} grad L_bar``, the influence is

.. math::
   I(v) = -\\sum_p \\mathrm{mean}(\\nabla_p l_v \\odot s_p),

a sum over parameter tensors ``p`` of the element mean. ``grad_dot`` uses ``s = grad L_bar``;
``lissa`` runs one pass of the recursion ``h <- v + (1 - damping) h - H_j h / scale`` over
batches ``j`` of nodes and takes ``s = h / scale`` (with the official scale 1e9 the Hessian term
is tiny and both rank nodes almost alike). Scores are min-max normalised to ``[0, 1]``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.flatten_util import ravel_pytree

from graphs.otgnet._config import OTGNetConfig
from graphs.otgnet._model import forward

__all__ = ["gradient_stats", "influence", "tensor_weights"]

_CHUNK = 64


def _node_loss(model, g, memory, ctx, bi, side, cfg: OTGNetConfig, n_class: int):
  """CE of one endpoint (``side`` 0 src, 1 dst) of a one-edge batch ``bi``."""
  out = forward(
    model,
    g,
    memory,
    ctx,
    bi,
    use_ib=cfg.use_ib,
    ib_on_message=cfg.ib_on_message,
    mask_padding=cfg.mask_padding,
    store_size=1,
  )
  lab = jnp.where(side == 0, bi["src_label"], bi["dst_label"])[0]
  lg = jnp.where(side == 0, out.logits_src, out.logits_dst)[0, lab // n_class]
  return optax.softmax_cross_entropy_with_integer_labels(lg, lab % n_class)


def _split_loss(model, g, memory, ctx, cfg, n_class):
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  flat, unravel = ravel_pytree(params)

  def loss(vec, bi, side):
    m = nnx.merge(graphdef, unravel(vec), rest)
    return _node_loss(m, g, memory, ctx, bi, side, cfg, n_class)

  return flat, loss


@functools.partial(nnx.jit, static_argnames=("cfg", "n_class", "squares"))
def _chunk_stats(model, g, memory, ctx, b, side, valid, direction, *, cfg, n_class, squares):
  """Over the ``valid`` rows of a chunk: ``sum_i grad_i`` (one backward pass of the summed
  loss), ``sum_i grad_i^2`` when ``squares`` (per-node gradients; else zeros) and each node's
  directional derivative ``grad_i . direction`` (forward mode, ``[n]``)."""
  flat, loss = _split_loss(model, g, memory, ctx, cfg, n_class)
  per_node = jax.vmap(loss, in_axes=(None, 0, 0))
  total = jax.grad(lambda p: jnp.sum(per_node(p, b, side) * valid))(flat)
  sq = jnp.zeros_like(flat)
  if squares:
    grads = jax.vmap(jax.grad(loss), in_axes=(None, 0, 0))(flat, b, side) * valid[:, None]
    sq = (grads**2).sum(0)
  dots = jax.jvp(lambda p: per_node(p, b, side), (flat,), (direction,))[1]
  return total, sq, dots * valid


@functools.partial(nnx.jit, static_argnames=("cfg", "n_class"))
def _chunk_hvp(model, g, memory, ctx, b, side, valid, vec, *, cfg: OTGNetConfig, n_class: int):
  """``H vec`` of the mean loss over the ``valid`` rows of the chunk."""
  flat, loss = _split_loss(model, g, memory, ctx, cfg, n_class)

  def mean_loss(p):
    ls = jax.vmap(loss, in_axes=(None, 0, 0))(p, b, side)
    return jnp.sum(ls * valid) / jnp.maximum(valid.sum(), 1.0)

  return jax.jvp(jax.grad(mean_loss), (flat,), (vec,))[1]


def _chunks(b, side, size):
  """Fixed-size chunks of the per-node batch (the last padded by repeating row 0)."""
  n = len(side)
  for lo in range(0, n, size):
    idx = np.arange(lo, lo + size)
    valid = idx < n
    idx = np.where(valid, idx, 0)
    chunk = {k: jnp.asarray(v[idx]) for k, v in b.items()}
    yield chunk, jnp.asarray(side[idx]), valid


def gradient_stats(
  model, g, memory, ctx, b, side, cfg: OTGNetConfig, n_class: int, direction=None, squares=False
):
  """Per-node loss gradients (``b`` holds one-edge batches with a leading node axis as NumPy
  arrays; ``side [n]`` picks the endpoint), reduced without storing them: the mean gradient
  ``[P]``, the mean squared gradient ``[P]`` (a diagonal Fisher; zeros unless ``squares``) and
  each node's ``grad_v . direction`` ``[n]`` (zeros unless ``direction [P]`` is given)."""
  n = len(side)
  p = len(ravel_pytree(nnx.state(model, nnx.Param))[0])
  direction = jnp.zeros(p) if direction is None else jnp.asarray(direction, jnp.float32)
  total, sq, dots = np.zeros(p), np.zeros(p), []
  for bc, sc, valid in _chunks(b, side, _CHUNK):
    s1, s2, dot = _chunk_stats(
      model, g, memory, ctx, bc, sc, jnp.asarray(valid, jnp.float32), direction,
      cfg=cfg, n_class=n_class, squares=squares,
    )  # fmt: skip
    total += np.asarray(s1)
    sq += np.asarray(s2)
    dots.append(np.asarray(dot)[valid])
  n = max(n, 1)
  return total / n, sq / n, np.concatenate(dots) if dots else np.zeros(0)


def tensor_weights(model) -> np.ndarray:
  """``[P]`` weight ``1 / size(p)`` of every flattened parameter element (element means)."""
  params = nnx.state(model, nnx.Param)
  sizes = [np.full(x.size, 1.0 / x.size, np.float32) for x in jax.tree.leaves(params)]
  return np.concatenate(sizes) if sizes else np.zeros(0, np.float32)


def influence(model, g, memory, ctx, b, side, cfg: OTGNetConfig, n_class: int) -> np.ndarray:
  """Min-max normalised influence ``I(v)`` of each node (``cfg.importance`` picks ``s``)."""
  if not len(side):
    return np.zeros(0)
  v, _, _ = gradient_stats(model, g, memory, ctx, b, side, cfg, n_class)
  s = v
  if cfg.importance == "lissa":
    vj, h = jnp.asarray(v, jnp.float32), jnp.asarray(v, jnp.float32)
    for bc, sc, valid in _chunks(b, side, cfg.lissa_batch):
      hv = _chunk_hvp(
        model, g, memory, ctx, bc, sc, jnp.asarray(valid, jnp.float32), h, cfg=cfg, n_class=n_class
      )
      h = vj + (1.0 - cfg.lissa_damping) * h - hv / cfg.lissa_scale
    s = np.asarray(h, np.float64) / cfg.lissa_scale
  _, _, dots = gradient_stats(
    model, g, memory, ctx, b, side, cfg, n_class, direction=tensor_weights(model) * s
  )
  raw = -dots
  return (raw - raw.min()) / max(float(raw.max() - raw.min()), 1e-30)
