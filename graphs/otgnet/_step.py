"""Jitted steps: the main step (CE + replay + pattern loss + EWC/LwF) with the IB update of the
mapping, CLUB and MINE after it, and the evaluation forward."""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from graphs.otgnet._config import OTGNetConfig
from graphs.otgnet._model import CLUB, MINE, IBMap, OTGNet, forward

__all__ = ["Learners", "train_step", "eval_forward", "club_mi", "mine_lower_bound", "club_nll"]


def club_mi(mu, lv, y, y_perm, mask):
  """CLUB estimate of ``I(z; y)`` over the masked rows (``mu, lv, y: [S, C]``):

  .. math::
     \\tfrac12 \\mathrm{mean}_i \\sum [(\\mu_i - y_{\\pi(i)})^2 - (\\mu_i - y_i)^2] / v_i,
     \\quad v_i = e^{lv_i} + 10^{-6}
  """
  var = jnp.exp(lv) + 1e-6
  per = 0.5 * jnp.sum(-((mu - y) ** 2) / var + (mu - y_perm) ** 2 / var, -1)
  return jnp.sum(per * mask) / jnp.maximum(mask.sum(), 1.0)


def club_nll(mu, lv, y, mask):
  """CLUB training loss, the negative Gaussian log-likelihood ``-mean sum[-(mu-y)^2/var - lv]``."""
  ll = jnp.sum(-((mu - y) ** 2) / (jnp.exp(lv) + 1e-6) - lv, -1)
  return -jnp.sum(ll * mask) / jnp.maximum(mask.sum(), 1.0)


def mine_lower_bound(t_joint, t_marg, mask):
  """Donsker-Varadhan bound ``mean T(x, z) - (logsumexp T(x, z_r) - log n)`` over the mask."""
  n = jnp.maximum(mask.sum(), 1.0)
  joint = jnp.sum(t_joint * mask) / n
  marg = jax.nn.logsumexp(jnp.where(mask > 0, t_marg, -jnp.inf)) - jnp.log(n)
  return joint - jnp.where(mask.sum() > 0, marg, 0.0)


def _ce_side(logits, label, mask, is_new, task, n_class, cfg: OTGNetConfig):
  head = jnp.maximum(label, 0) // n_class
  target = jnp.maximum(label, 0) % n_class
  lg = jnp.take_along_axis(logits, head[:, None, None], 1)[:, 0]
  ce = optax.softmax_cross_entropy_with_integer_labels(lg, target)
  valid = (label >= 0) & (mask > 0)
  new = valid & (is_new > 0)
  rep = valid & (is_new <= 0)
  w = jnp.ones_like(ce)
  if cfg.class_balance:
    cur = new & (head == task)
    counts = jnp.zeros(n_class).at[target].add(cur.astype(jnp.float32))
    n_new = jnp.maximum(jnp.sum((mask > 0) & (is_new > 0)), 1.0)
    w = jnp.where(cur, (n_new - counts[target]) / n_new, 1.0)
  l_new = jnp.sum(w * ce * new) / jnp.maximum(new.sum(), 1.0)
  l_rep = jnp.sum(ce * rep) / jnp.maximum(rep.sum(), 1.0)
  r = cfg.replay_ratio
  return jnp.where(rep.sum() > 0, (1 - r) * l_new + r * l_rep, l_new)


def _pattern_loss(mem, b, cfg: OTGNetConfig):
  def score(pairs):
    return jnp.sum(mem[pairs[:, 0]] * mem[pairs[:, 1]], -1)

  pm, qm = b["pos_mask"], b["neg_mask"]
  lp = optax.sigmoid_binary_cross_entropy(score(b["pos"]), jnp.ones_like(pm))
  lq = optax.sigmoid_binary_cross_entropy(score(b["neg"]), jnp.zeros_like(qm))
  n_p = jnp.maximum(pm.sum(), 1.0)
  loss = jnp.sum(lp * pm) / n_p + jnp.sum(lq * qm) / jnp.maximum(qm.sum(), 1.0)
  if cfg.pattern_norm == "official":
    loss = loss / n_p
  return jnp.where(pm.sum() > 0, loss, 0.0)


def _kd(new_logits, old_logits, heads_mask, temp):
  """Soft-label KL over the old heads, scaled by ``T^2``: ``[B]``."""
  p_old = jax.nn.softmax(old_logits / temp, -1)
  kl = jnp.sum(
    p_old * (jax.nn.log_softmax(old_logits / temp, -1) - jax.nn.log_softmax(new_logits / temp, -1)),
    -1,
  )
  return temp**2 * jnp.sum(kl * heads_mask, -1) / jnp.maximum(heads_mask.sum(), 1.0)


def main_loss(model, g, memory, ctx, b, cfg: OTGNetConfig, n_class: int, old=None):
  """Total loss ``L_ce + rho L_p (+ EWC, LwF)`` and the :class:`Forward` output."""
  out = forward(
    model,
    g,
    memory,
    ctx,
    b,
    use_ib=cfg.use_ib,
    ib_on_message=cfg.ib_on_message,
    mask_padding=cfg.mask_padding,
    store_size=cfg.ib_store,
  )
  task = ctx["task"]
  loss = _ce_side(out.logits_src, b["src_label"], b["mask"], b["is_new"], task, n_class, cfg)
  loss += _ce_side(out.logits_dst, b["dst_label"], b["mask"], b["is_new"], task, n_class, cfg)
  if cfg.pattern_rho > 0:
    loss += cfg.pattern_rho * _pattern_loss(out.memory, b, cfg)
  if cfg.ewc_lambda > 0 and "ewc_anchor" in ctx:  # from the second task on
    params = nnx.state(model, nnx.Param)
    pen = jax.tree.map(
      lambda p, a, f: jnp.sum(f * (p - a) ** 2), params, ctx["ewc_anchor"], ctx["ewc_fisher"]
    )
    loss += 0.5 * cfg.ewc_lambda * sum(jax.tree.leaves(pen))
  if cfg.lwf_weight > 0 and old is not None:
    o = forward(
      old,
      g,
      memory,
      ctx,
      b,
      use_ib=cfg.use_ib,
      ib_on_message=cfg.ib_on_message,
      mask_padding=cfg.mask_padding,
      store_size=cfg.ib_store,
    )
    heads = (jnp.arange(out.logits_src.shape[1]) < task).astype(jnp.float32)
    kd = _kd(out.logits_src, jax.lax.stop_gradient(o.logits_src), heads, cfg.lwf_temperature)
    kd += _kd(out.logits_dst, jax.lax.stop_gradient(o.logits_dst), heads, cfg.lwf_temperature)
    loss += cfg.lwf_weight * jnp.sum(kd * b["mask"]) / jnp.maximum(b["mask"].sum(), 1.0)
  return loss, out


def _masked_update(module, opt, grads, flag):
  """``opt.update`` applied only where ``flag`` (a traced bool) is true."""
  before = nnx.state((module, opt))
  opt.update(module, grads)
  after = nnx.state((module, opt))
  nnx.update((module, opt), jax.tree.map(lambda a, c: jnp.where(flag, c, a), before, after))


def ib_update(g, club, mine, opts, x, y, mask, key, warm, cfg: OTGNetConfig, y_dim: int):
  """One IB step on ``g`` (``I_CLUB(g(x); y) - beta I_MINE(x; g(x))``, skipped when the
  objective exceeds ``ib_max_objective``), then, while ``warm``, one MINE and one CLUB step."""
  mask = mask.astype(jnp.float32)
  n = jnp.maximum(mask.sum(), 1.0)
  k_perm, k_marg = jax.random.split(key)
  perm = jnp.argsort(jnp.where(mask > 0, jax.random.uniform(k_perm, mask.shape), 2.0))
  marg = jnp.minimum(jnp.floor(jax.random.uniform(k_marg, mask.shape) * n), n - 1).astype(jnp.int32)
  y1 = jax.nn.one_hot(y, y_dim)
  g_opt, club_opt, mine_opt = opts

  def g_obj(gm):
    z = gm(x)
    mu, lv = club(z)
    i_club = club_mi(mu, lv, y1, y1[perm], mask)
    i_mine = mine_lower_bound(mine(x, z), mine(x, z[marg]), mask)
    return i_club - cfg.ib_beta * i_mine

  obj, grads = nnx.value_and_grad(g_obj)(g)
  _masked_update(g, g_opt, grads, (jnp.abs(obj) <= cfg.ib_max_objective) & (mask.sum() > 0))
  z = jax.lax.stop_gradient(g(x))

  def mine_loss(mm):
    return -mine_lower_bound(mm(x, z), mm(x, z[marg]), mask)

  _masked_update(mine, mine_opt, nnx.grad(mine_loss)(mine), warm & (mask.sum() > 0))

  def club_loss(cm):
    mu, lv = cm(z)
    return club_nll(mu, lv, y1, mask)

  _masked_update(club, club_opt, nnx.grad(club_loss)(club), warm & (mask.sum() > 0))
  return obj


class Learners(NamedTuple):
  """What one training step updates: the classifier and its optimizer, the IB map ``g`` with
  CLUB and MINE and their three optimizers (``ib_opts``: g, CLUB, MINE), and the frozen LwF
  teacher ``old`` (None before the second task or without LwF)."""

  model: OTGNet
  opt: nnx.Optimizer
  g: IBMap
  club: CLUB
  mine: MINE
  ib_opts: tuple[nnx.Optimizer, nnx.Optimizer, nnx.Optimizer]
  old: OTGNet | None = None


@functools.partial(nnx.jit, static_argnames=("cfg", "n_class", "y_dim"))
def train_step(
  learners: Learners,
  memory,
  ctx,
  b,
  key,
  warm,
  *,
  cfg: OTGNetConfig,
  n_class: int,
  y_dim: int,
):
  """Main step, then the IB step: ``(loss, ib_objective, new_memory)``.

  Args:
    learners: the modules and optimizers, updated in place.
    memory: ``[N + 1, d]`` node memory before the batch.
    ctx: ``features``, ``labels`` (what training may see), ``task`` and, for EWC from the
      second task on, ``ewc_anchor``/``ewc_fisher``.
    b: the batch (see :func:`~graphs.otgnet.forward`), plus ``is_new [B]`` and the pattern
      pairs ``pos``/``neg [P, 2]`` with their masks.
    key: JAX key of the IB shuffles (dropout draws from the model's own stream).
    warm: bool scalar, also train CLUB and MINE in this step.
  """
  ln = learners

  def loss_fn(m):
    return main_loss(m, ln.g, memory, ctx, b, cfg, n_class, ln.old)

  (loss, out), grads = nnx.value_and_grad(loss_fn, has_aux=True)(ln.model)
  ln.opt.update(ln.model, grads)
  obj = jnp.zeros(())
  if cfg.use_ib:
    obj = ib_update(
      ln.g, ln.club, ln.mine, ln.ib_opts, out.store_x, out.store_y, out.store_mask, key, warm,
      cfg, y_dim,
    )  # fmt: skip
  return loss, obj, jax.lax.stop_gradient(out.memory)


@functools.partial(nnx.jit, static_argnames=("cfg",))
def eval_forward(model, g, memory, ctx, b, *, cfg: OTGNetConfig):
  """Deterministic forward: ``(logits_src, logits_dst, new_memory)``."""
  out = forward(
    model,
    g,
    memory,
    ctx,
    b,
    use_ib=cfg.use_ib,
    ib_on_message=cfg.ib_on_message,
    mask_padding=cfg.mask_padding,
    store_size=1,
  )
  return out.logits_src, out.logits_dst, out.memory
