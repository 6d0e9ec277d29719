"""Training the hw-plan planners: the teacher, then students alone, with output KD, FitNet
feature KD, PlanKD and its ablations.

One jitted step per method (``nnx.split`` → ``jax.jit(donate)`` → ``nnx.merge``). With PlanKD's
information bottleneck a step first updates the VIB with its own Adam on
``L_IB(sg h_T) + L_IB(sg h_S)``, then the student with fresh noise on

  L = 0.2·L_w + 0.05·Σ CE_aux + 0.1·L_z + 0.1·L_rank + 0.005·L_e

(the VIB encoder also sits in the student's optimiser, as officially). Rasters are drawn from the
frame states inside the step.
"""

from __future__ import annotations

import dataclasses
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from distill.plankd._data import Dataset
from distill.plankd._losses import (
  attention_entropy_term,
  attentive_waypoint_loss,
  bottleneck_l1,
  feasible_margin,
  ib_loss,
  safety_scores,
  vib_features,
  waypoint_ranking_loss,
)
from distill.plankd._modules import VIB, WaypointAttention
from distill.plankd._planner import PLANNERS, Planner
from distill.plankd._scene import AUX_CLASSES, SceneConfig, actors, measurements, rasterize
from fira_jax.lab.metrics import MetricsLog, progress_bar
from fira_jax.lab.seeds import key as seed_key
from fira_jax.lab.seeds import np_rng

__all__ = ["METHODS", "TrainConfig", "Student", "train", "scene_inputs"]

# method -> (uses the teacher, IB, attention, FitNet)
METHODS: dict[str, tuple[bool, bool, bool, bool]] = {
  "teacher": (False, False, False, False),
  "alone": (False, False, False, False),
  "output_kd": (True, False, False, False),
  "feature_kd": (True, False, False, True),
  "ib_only": (True, True, False, False),
  "attention_only": (False, False, True, False),
  "plankd": (True, True, True, False),
  # PlanKD with the attention detached in L_w (not official): the attention is then trained by
  # the ranking and entropy terms only and cannot collapse onto the easiest waypoint.
  "plankd_sg": (True, True, True, False),
  # PlanKD with a plain L1 on all waypoints beside the attentive term and the ranking margin
  # capped at the largest one a distribution can meet (not official; see TrainConfig's
  # fix_l1_share and fix_feasible_margin).
  "plankd_fix": (True, True, True, False),
}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Training settings (defaults: the benchmark's).

  Attributes:
    epochs: passes over the training frames.
    batch_size: frames per step.
    lr: peak learning rate (AdamW, cosine decay after a one-epoch warm-up).
    weight_decay: AdamW weight decay.
    clip: global gradient-norm clip.
    vib_lr: learning rate of the bottleneck's own Adam.
    wp_weight: weight of the waypoint L1.
    aux_weight: weight of the auxiliary cross-entropies.
    output_kd_alpha: output KD's share of the teacher's waypoints.
    feature_weight: FitNet's weight.
    z_weight: weight of the bottleneck L1 (beta_z).
    rank_weight: weight of the ranking loss (beta_r).
    entropy_weight: weight of the entropy term (beta_e).
    teacher_wp_weight: weight of the attentive L1 to the teacher's waypoints (absent officially).
    ib_beta: KL weight inside the IB loss.
    margin: ranking margin.
    sigma: safety kernel width in metres.
    actor_time: "aligned" (actors predicted at each waypoint's time) or "current".
    official_mask: use the official padding rule instead of the explicit actor mask.
    ib_in_student_opt: the student's optimiser also updates the VIB encoder through L_z.
    z_on_mu: distil the posterior means instead of samples.
    fix_l1_share: ``plankd_fix`` only: share γ of the plain L1 over all waypoints in its
      waypoint loss ``(1 − γ)·L_w + γ·mean_j L1_j``.
    fix_feasible_margin: ``plankd_fix`` only: cap the ranking margin at ``2 / (K(K − 1))``,
      the largest one attention weights summing to 1 can meet.
  """

  epochs: int = 10
  batch_size: int = 64
  lr: float = 1e-3
  weight_decay: float = 0.05
  clip: float = 10.0
  vib_lr: float = 1e-4
  wp_weight: float = 0.2
  aux_weight: float = 0.05
  output_kd_alpha: float = 0.5
  feature_weight: float = 0.1
  z_weight: float = 0.1
  rank_weight: float = 0.1
  entropy_weight: float = 0.005
  teacher_wp_weight: float = 0.0
  ib_beta: float = 1e-3
  margin: float = 0.1
  sigma: float = 3.0
  actor_time: str = "aligned"
  official_mask: bool = False
  ib_in_student_opt: bool = True
  z_on_mu: bool = False
  fix_l1_share: float = 0.5
  fix_feasible_margin: bool = True


class Student(nnx.Module):
  """A planner with the training-only modules its method needs."""

  def __init__(
    self, planner: Planner, method: str, teacher_channels: int, scene: SceneConfig, *, rngs
  ):
    _, use_ib, use_att, use_fit = METHODS[method]
    self.planner = planner
    h, w = scene.shape
    self.vib = VIB((h // 4) * (w // 4), AUX_CLASSES, rngs=rngs) if use_ib else None
    self.attention = (
      WaypointAttention(5, 3 + scene.lanes, coords=scene.coords, rngs=rngs) if use_att else None
    )
    self.proj = (
      nnx.Conv(planner.tap_channels, teacher_channels, (1, 1), rngs=rngs) if use_fit else None
    )


def scene_inputs(batch: dict, scene: SceneConfig) -> dict:
  """Raster ``(B, H, W, 5)``, measurements and actors of a batch of frame states."""
  bev = jax.vmap(lambda e, o, d: rasterize(e, o, d, scene))(
    batch["ego"], batch["others"], batch["distractors"]
  )
  pos, aligned, mask = jax.vmap(lambda e, o: actors(e, o, scene))(batch["ego"], batch["others"])
  return {
    "bev": bev,
    "meas": measurements(batch["ego"], scene),
    "pos": pos,
    "aligned": aligned,
    "amask": mask,
  }


def _aux_ce(logits, labels):
  out, start = 0.0, 0
  for i, c in enumerate(AUX_CLASSES):
    logp = jax.nn.log_softmax(logits[:, start : start + c])
    out = out - jnp.mean(jnp.take_along_axis(logp, labels[:, i : i + 1], -1))
    start += c
  return out


def _l1(pred, target, mask):
  k = pred.shape[1]
  return jnp.mean(attentive_waypoint_loss(jnp.full(pred.shape[:2], 1.0 / k), pred, target, mask))


def _student_loss(method, cfg: TrainConfig, scene, student, x, batch, t_out, key):
  """The student's objective and its unweighted terms."""
  wp, aux, tap = student.planner(x["bev"], x["meas"])
  target, mask = batch["waypoints"], batch["wp_mask"]
  use_t, use_ib, use_att, use_fit = METHODS[method]
  terms = {"aux": _aux_ce(aux, batch["labels"])}
  weights = {"aux": cfg.aux_weight, "wp": cfg.wp_weight}
  if use_att:
    att = student.attention(x["bev"], x["meas"], target)
    att_w = jax.lax.stop_gradient(att) if method == "plankd_sg" else att
    terms["wp"] = jnp.mean(attentive_waypoint_loss(att_w, wp, target, mask))
    margin = cfg.margin
    if method == "plankd_fix":
      g = cfg.fix_l1_share
      terms["wp"] = (1 - g) * terms["wp"] + g * _l1(wp, target, mask)
      if cfg.fix_feasible_margin:
        margin = min(margin, feasible_margin(att.shape[1]))
    actors_p = x["aligned"] if cfg.actor_time == "aligned" else x["pos"]
    amask = None if cfg.official_mask else x["amask"]
    s = safety_scores(target, actors_p, amask, sigma=cfg.sigma)
    terms["rank"] = jnp.mean(waypoint_ranking_loss(att, s, margin=margin))
    terms["entropy"] = jnp.mean(attention_entropy_term(att))
    weights.update(rank=cfg.rank_weight, entropy=cfg.entropy_weight)
    if use_t and cfg.teacher_wp_weight:
      twp = jax.lax.stop_gradient(t_out[0])
      terms["teacher_wp"] = jnp.mean(attentive_waypoint_loss(att_w, wp, twp, mask))
      weights["teacher_wp"] = cfg.teacher_wp_weight
  elif method == "output_kd":
    a = cfg.output_kd_alpha
    twp = jax.lax.stop_gradient(t_out[0])
    terms["wp"] = (1 - a) * _l1(wp, target, mask) + a * _l1(wp, twp, mask)
  else:
    terms["wp"] = _l1(wp, target, mask)
  if use_fit:
    t_tap = jax.lax.stop_gradient(t_out[2])
    terms["feature"] = jnp.mean((student.proj(tap) - t_tap) ** 2)
    weights["feature"] = cfg.feature_weight
  if use_ib:
    k1, k2 = jax.random.split(key)
    h_t = jax.lax.stop_gradient(vib_features(t_out[2]))
    mu_t, _, z_t = student.vib.encode(h_t, k1)
    mu_s, _, z_s = student.vib.encode(vib_features(tap), k2)
    a, b = (mu_t, mu_s) if cfg.z_on_mu else (z_t, z_s)
    terms["z"] = jnp.mean(bottleneck_l1(a, b))
    weights["z"] = cfg.z_weight
  return sum(weights[k] * v for k, v in terms.items()), terms


def _vib_loss(vib, h_t, h_s, labels, key, beta):
  out = 0.0
  for h, k in zip((h_t, h_s), jax.random.split(key), strict=True):
    mu, sigma, _, logits = vib(h, k)
    out = out + jnp.mean(ib_loss(mu, sigma, logits, labels, class_sizes=AUX_CLASSES, beta=beta))
  return out


def _student_filter(method, cfg):
  if METHODS[method][1] and not cfg.ib_in_student_opt:
    return nnx.All(nnx.Param, nnx.Not(nnx.PathContains("vib")))
  if METHODS[method][1]:
    return nnx.All(nnx.Param, nnx.Not(nnx.PathContains("decoder")))
  return nnx.Param


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3, 4), donate_argnums=5)
def _train_step(graphdef, t_graphdef, method, cfg, scene, state, t_state, batch, key):
  student, opt, vib_opt = nnx.merge(graphdef, state)
  x = scene_inputs(batch, scene)
  t_out = None
  if METHODS[method][0]:
    teacher = nnx.merge(t_graphdef, t_state)
    t_out = jax.tree.map(jax.lax.stop_gradient, teacher(x["bev"], x["meas"]))
  k_vib, k_student = jax.random.split(key)
  metrics = {}
  if METHODS[method][1]:
    _, _, tap = student.planner(x["bev"], x["meas"])
    h_t = vib_features(t_out[2])
    h_s = jax.lax.stop_gradient(vib_features(tap))
    vib_l, g = nnx.value_and_grad(_vib_loss)(
      student.vib, h_t, h_s, batch["labels"], k_vib, cfg.ib_beta
    )
    vib_opt.update(student.vib, g)
    metrics["ib"] = vib_l
  wrt = _student_filter(method, cfg)

  def loss_fn(s):
    return _student_loss(method, cfg, scene, s, x, batch, t_out, k_student)

  (loss, terms), grads = nnx.value_and_grad(loss_fn, argnums=nnx.DiffState(0, wrt), has_aux=True)(
    student
  )
  opt.update(student, grads)
  return nnx.state((student, opt, vib_opt)), loss, {**terms, **metrics}


@functools.cache
def _tx(lr, weight_decay, clip, steps, warmup):
  sched = optax.warmup_cosine_decay_schedule(0.0, lr, max(warmup, 1), max(steps, warmup + 1))
  return optax.chain(optax.clip_by_global_norm(clip), optax.adamw(sched, weight_decay=weight_decay))


@functools.cache
def _vib_tx(lr):
  return optax.adam(lr)


def train(
  method: str,
  size: str,
  data: Dataset,
  *,
  seed: int,
  config: TrainConfig | None = None,
  scene: SceneConfig | None = None,
  teacher: Planner | None = None,
  log: MetricsLog | None = None,
  progress: bool = True,
  keep_modules: bool = False,
) -> tuple[Planner, dict]:
  """Trains one planner of ``size`` (a key of :data:`PLANNERS`) with ``method``.

  Returns:
    the trained planner and ``{"final_loss", "first_loss", "train_s", "steps"}`` (with
    ``keep_modules``, also the trained ``"attention"`` and ``"vib"`` modules, or None).
  """
  config = config or TrainConfig()
  scene = scene or SceneConfig()
  if method not in METHODS:
    raise ValueError(f"unknown method {method!r}; choose from {sorted(METHODS)}")
  if size not in PLANNERS:
    raise ValueError(f"unknown planner size {size!r}; choose from {sorted(PLANNERS)}")
  if METHODS[method][0] and teacher is None:
    raise ValueError(f"method {method!r} needs a trained teacher")
  steps_per_epoch = len(data) // config.batch_size
  if steps_per_epoch < 1:
    raise ValueError(f"{len(data)} frames are fewer than one batch of {config.batch_size}")
  steps = steps_per_epoch * config.epochs
  rngs = nnx.Rngs(seed_key(seed, f"plankd/init/{method}/{size}"))
  planner = Planner(PLANNERS[size], rngs=rngs)
  t_channels = teacher.tap_channels if teacher is not None else 1
  student = Student(planner, method, t_channels, scene, rngs=rngs)
  tx = _tx(config.lr, config.weight_decay, config.clip, steps, steps_per_epoch)
  opt = nnx.Optimizer(student, tx, wrt=_student_filter(method, config))
  vib_opt = (
    nnx.Optimizer(student.vib, _vib_tx(config.vib_lr), wrt=nnx.Param) if student.vib else None
  )
  graphdef, state = nnx.split((student, opt, vib_opt))
  t_graphdef, t_state = nnx.split(teacher if METHODS[method][0] else nnx.Dict())
  rng = np_rng(seed, f"plankd/batches/{method}/{size}")
  key = seed_key(seed, f"plankd/steps/{method}/{size}")
  bar = progress_bar(
    total=steps, desc=f"{method} {size} seed {seed}", disable=not progress, unit="step"
  )
  losses = []
  start = time.perf_counter()
  step = 0
  for epoch in range(config.epochs):
    for batch in data.batches(config.batch_size, rng):
      state, loss, terms = _train_step(
        graphdef,
        t_graphdef,
        method,
        config,
        scene,
        state,
        t_state,
        batch,
        jax.random.fold_in(key, step),
      )
      step += 1
      losses.append(float(loss))
      bar.update(1)
      bar.set_postfix(loss=f"{losses[-1]:.4f}")
      if log is not None and (step % 20 == 0 or step == steps):
        log.write(
          {
            "method": method,
            "size": size,
            "seed": seed,
            "epoch": epoch,
            "step": step,
            "loss": losses[-1],
            **{k: float(v) for k, v in terms.items()},
          }
        )
  bar.close()
  student, _, _ = nnx.merge(graphdef, state)
  k = min(10, len(losses))
  extra = {"attention": student.attention, "vib": student.vib} if keep_modules else {}
  return student.planner, {
    **extra,
    "first_loss": float(np.mean(losses[:k])),
    "final_loss": float(np.mean(losses[-k:])),
    "train_s": time.perf_counter() - start,
    "steps": step,
  }
