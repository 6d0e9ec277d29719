"""OTGNet modules: the memory-based temporal classifier, the class-agnostic IB mapping, CLUB and
MINE, and the batch forward pass with node memory threaded as state.

Shapes: ``B`` events per batch, ``k`` neighbours, ``d`` memory size, ``F`` feature size,
``T`` tasks of ``c`` classes each, ``N + 1`` memory rows (row 0 = padding node).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from graphs._temporal import last_write_mask, time_encoding

__all__ = ["OTGNet", "IBMap", "CLUB", "MINE", "Forward", "forward", "init_memory"]


def _mlp(din: int, dh: int, dout: int, rngs: nnx.Rngs, bias: bool = True):
  return nnx.Linear(din, dh, use_bias=bias, rngs=rngs), nnx.Linear(
    dh, dout, use_bias=bias, rngs=rngs
  )


class OTGNet(nnx.Module):
  """Projection, temporal attention with time encoding, memory update and per-task heads.

  Args:
    num_features: ``F``; memory_dim: ``d``; time_dim: ``d_t``; hidden_dim: classifier width;
    num_tasks: ``T``; num_classes: ``c`` per task; update: ``"pair"`` or ``"self"``;
    dropout: rate; rngs: NNX random streams (``params`` and ``dropout``).
  """

  def __init__(
    self,
    num_features,
    memory_dim,
    time_dim,
    hidden_dim,
    num_tasks,
    num_classes,
    *,
    update="pair",
    dropout=0.5,
    rngs: nnx.Rngs,
  ):
    d = memory_dim
    self.time_dim, self.update = time_dim, update
    self.proj = nnx.Linear(d + num_features, d, rngs=rngs)  # x_v = W_f [M_v || X_v] + b_f
    self.w_k = nnx.Linear(d + time_dim, d, use_bias=False, rngs=rngs)
    self.w_q = nnx.Linear(d, d, use_bias=False, rngs=rngs)
    self.att = nnx.Linear(2 * d, 1, rngs=rngs)
    self.b_e = nnx.Param(jnp.zeros((1,)))
    upd_in = 3 * d + 1 if update == "pair" else 2 * d
    self.w_uc = nnx.Linear(upd_in, d, use_bias=False, rngs=rngs)
    self.w_c1 = nnx.Linear(d + num_features, hidden_dim, use_bias=False, rngs=rngs)
    init = nnx.initializers.lecun_normal()
    self.heads = nnx.Param(init(rngs.params(), (num_tasks, hidden_dim, num_classes)))
    self.drop = nnx.Dropout(dropout, rngs=rngs)

  def attend(self, xc, xn, dt, nmask, mask_padding: bool):
    """``m = sum_j softmax_j(LeakyReLU(a^T [q || h_j]))`` h_j with
    ``h_j = [x_j || phi(dt_j)] W_k`` and ``q = x_c W_q``: ``[B, d]``."""
    h = self.w_k(jnp.concatenate([xn, time_encoding(dt, self.time_dim)], -1))  # [B, k, d]
    q = jnp.broadcast_to(self.w_q(xc)[:, None], h.shape)
    s = jax.nn.leaky_relu(self.att(self.drop(jnp.concatenate([q, h], -1)))[..., 0], 0.2)
    if mask_padding:
      s = jnp.where(nmask, s, -1e9)
    m = jnp.einsum("bk,bkd->bd", jax.nn.softmax(s, -1), h)
    if mask_padding:
      m = jnp.where(nmask.any(-1, keepdims=True), m, 0.0)
    return m

  def classify(self, mem_v, x_v):
    """All heads' logits ``[B, T, c]`` of ``Dropout(ReLU([M'_v || X_v] W_c1)) W_c2^(t)``."""
    p = self.drop(jax.nn.relu(self.w_c1(jnp.concatenate([mem_v, x_v], -1))))
    return jnp.einsum("bh,thc->btc", p, self.heads[...])


class IBMap(nnx.Module):
  """Class-agnostic mapping ``g(x) = W_2 ReLU(W_1 x + b_1) + b_2`` (``d -> d -> d``)."""

  def __init__(self, dim: int, *, rngs: nnx.Rngs):
    self.l1, self.l2 = _mlp(dim, dim, dim, rngs)

  def __call__(self, x):
    return self.l2(jax.nn.relu(self.l1(x)))


class CLUB(nnx.Module):
  """Variational q(y | z) = N(mu(z), exp(lv(z))) of the CLUB upper bound on ``I(z; y)``."""

  def __init__(self, dim: int, y_dim: int, *, rngs: nnx.Rngs):
    self.m1, self.m2 = _mlp(dim, dim, y_dim, rngs)
    self.v1, self.v2 = _mlp(dim, dim, y_dim, rngs)

  def __call__(self, z):
    return self.m2(jax.nn.relu(self.m1(z))), jnp.tanh(self.v2(jax.nn.relu(self.v1(z))))


class MINE(nnx.Module):
  """Statistics network ``T(x, z) = T_2 ReLU(T_1 [x || z])`` of the MINE lower bound."""

  def __init__(self, dim: int, *, rngs: nnx.Rngs):
    self.t1, self.t2 = _mlp(2 * dim, dim, 1, rngs)

  def __call__(self, x, z):
    return self.t2(jax.nn.relu(self.t1(jnp.concatenate([x, z], -1))))[..., 0]


def init_memory(key: jax.Array, num_nodes: int, dim: int) -> jax.Array:
  """Xavier-normal ``[N + 1, d]`` memory with row 0 (padding) zero."""
  std = jnp.sqrt(2.0 / (num_nodes + 1 + dim))
  mem = std * jax.random.normal(key, (num_nodes + 1, dim))
  return mem.at[0].set(0.0)


class Forward(NamedTuple):
  """Output of :func:`forward`: all heads' logits per side ``[B, T, c]``, the memory after the
  batch ``[N + 1, d]``, and the IB store (inputs ``[S, d]``, labels ``[S]``, mask ``[S]``)."""

  logits_src: jax.Array
  logits_dst: jax.Array
  memory: jax.Array
  store_x: jax.Array
  store_y: jax.Array
  store_mask: jax.Array


def _compact(xs, ys, valid, size):
  """The first ``size`` valid rows first (stable), then the rest."""
  order = jnp.argsort(~valid, stable=True)[:size]
  return xs[order], ys[order], valid[order]


def forward(
  model: OTGNet,
  g: IBMap,
  memory,
  ctx,
  b,
  *,
  use_ib: bool,
  ib_on_message: bool,
  mask_padding: bool,
  store_size: int,
) -> Forward:
  """One batch: temporal attention for both endpoints, memory update, classification.

  ``ctx`` holds ``features [N+1, F]`` and ``labels [N+1]`` (labels the model may use for
  neighbours, -1 unknown); ``b`` holds per side ``{src,dst}`` ids ``[B]``, ``*_label [B]``
  (centre label for the cross-class test, -1 unknown), ``*_nbr``/``*_dt``/``*_nmask`` ``[B, k]``,
  ``mask [B]``, and optionally a memory snapshot ``snap_ids [S]``/``snap_vals [S, d]`` written
  first (ids out of range are ignored). The memory is stop-gradiented on entry; gradients flow
  through this batch's writes.
  """
  feats, labels = ctx["features"], ctx["labels"]
  mem = jax.lax.stop_gradient(memory)
  if "snap_ids" in b:
    mem = mem.at[b["snap_ids"]].set(b["snap_vals"], mode="drop")

  def embed(ids):
    return model.proj(jnp.concatenate([mem[ids], feats[ids]], -1))

  msgs, store = {}, []
  for side in ("src", "dst"):
    c, nb, nm, cl = b[side], b[f"{side}_nbr"], b[f"{side}_nmask"] > 0, b[f"{side}_label"]
    xc, xn = embed(c), embed(nb)
    if use_ib:
      nl = labels[nb]
      cross = nm & (nl >= 0) & (cl[:, None] >= 0) & (nl != cl[:, None])
      x_in = jax.lax.stop_gradient(xn)
      xn = jnp.where(cross[..., None], g(x_in), xn)
      store.append((x_in.reshape(-1, x_in.shape[-1]), nl.reshape(-1), cross.reshape(-1)))
    msgs[side] = model.attend(xc, xn, b[f"{side}_dt"], nm, mask_padding)
  m_u, m_i = msgs["src"], msgs["dst"]
  if use_ib and ib_on_message:
    lu, li = b["src_label"], b["dst_label"]
    cross_e = (lu >= 0) & (li >= 0) & (lu != li) & (b["mask"] > 0)
    mu_in, mi_in = jax.lax.stop_gradient(m_u), jax.lax.stop_gradient(m_i)
    m_u = jnp.where(cross_e[:, None], g(mu_in), m_u)
    m_i = jnp.where(cross_e[:, None], g(mi_in), m_i)
    store += [(mu_in, lu, cross_e), (mi_in, li, cross_e)]
  src, dst = b["src"], b["dst"]
  if model.update == "pair":
    e = jnp.broadcast_to(jnp.tanh(model.b_e[...]), (src.shape[0], 1))
    h = jnp.concatenate([jnp.tanh(jnp.concatenate([m_u, m_i], -1)), e], -1)
    new_u = jnp.tanh(model.w_uc(jnp.concatenate([mem[src], h], -1)))
    new_i = jnp.tanh(model.w_uc(jnp.concatenate([mem[dst], h], -1)))
  else:
    new_u = jnp.tanh(model.w_uc(jnp.concatenate([mem[src], m_u], -1)))
    new_i = jnp.tanh(model.w_uc(jnp.concatenate([mem[dst], m_i], -1)))
  ids = jnp.concatenate([src, dst])
  valid = jnp.concatenate([b["mask"], b["mask"]])
  vals = jnp.concatenate([new_u, new_i])
  last = last_write_mask(ids, valid)
  write = jnp.where(last, ids, mem.shape[0])  # out of range: dropped
  new_mem = mem.at[write].set(vals, mode="drop")
  # the rows new_mem[ids] without reading the scattered memory: the value of the last real
  # write to each id in this batch, else the old row (padding rows read mem[0])
  match = (ids[None, :] == ids[:, None]) & (valid[None, :] > 0)
  last_idx = ids.shape[0] - 1 - jnp.argmax(match[:, ::-1], axis=1)
  post = jnp.where(match.any(1)[:, None], vals[last_idx], mem[ids])
  n = src.shape[0]
  logits_src = model.classify(post[:n], feats[src])
  logits_dst = model.classify(post[n:], feats[dst])
  d = mem.shape[1]
  if store:
    xs, ys, valid = (jnp.concatenate(p) for p in zip(*store, strict=True))
    xs, ys, valid = _compact(xs, ys, valid, min(store_size, xs.shape[0]))
  else:
    xs, ys, valid = jnp.zeros((1, d)), jnp.zeros((1,), jnp.int32), jnp.zeros((1,), bool)
  return Forward(logits_src, logits_dst, new_mem, xs, ys, valid)
