"""The one place the training loop builds its optimizer.

``make_optimizer`` returns an ``optax.GradientTransformation`` for ``adamw``, ``galore``,
``fira``, ``apollo``, ``apollo_mini`` and ``lora`` (AdamW on the LoRA parameters, which are
the only ones the loop hands to the optimizer in that mode). Low-rank methods project exactly
the attention and MLP kernels, chosen by :func:`projected_dimension_numbers`; embeddings, norms
and the head take plain AdamW inside the same transform.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from optax.contrib import GaLoreDimensionNumbers

# Imported from the implementation module (not ``fira_jax``) so that the package root may
# re-export this module without an import cycle.
from fira_jax._src.adam import add_decayed_weights_after_update
from fira_jax._src.alias import fira, galore
from fira_jax._src.apollo import apollo, apollo_mini
from fira_jax._src.projectors import eigh_projector, randomized_svd_projector, svd_projector

OPTIMIZERS = ("adamw", "galore", "fira", "lora", "apollo", "apollo_mini")
_LOW_RANK = ("galore", "fira", "apollo", "apollo_mini")
# --projector choices: name -> factory of the projector function.
PROJECTORS = {
  "svd": lambda: svd_projector,
  "eigh": lambda: eigh_projector,
  "rsvd": randomized_svd_projector,
}

# Flat parameter names of the projected kernels, e.g. "layers/3/attn/q_proj/kernel".
_PROJECTED = re.compile(r"(^|/)(attn|mlp)/\w+_proj/kernel$")


def projected_dimension_numbers(params: Mapping[str, jax.Array]) -> dict:
  """GaLore/Fira dimension numbers: the 2-D attention/MLP kernels (in, out), None elsewhere.

  Args:
    params: the flat ``{name: array}`` parameter dict of the training loop.

  Returns:
    A dict with the same keys: ``GaLoreDimensionNumbers(reduction_axis=0, output_axis=1)`` at
    the projected kernels and ``None`` at embeddings, norms and the output head.
  """
  return {
    name: GaLoreDimensionNumbers(0, 1) if _PROJECTED.search(name) and p.ndim == 2 else None
    for name, p in params.items()
  }


# The matrices trained at ``lr`` (the rest train at ``rest_lr``): the attention/MLP kernels,
# or LoRA's adapters on them (whose kernels are frozen).
_MATRIX_RATE = re.compile(r"(^|/)(attn|mlp)/\w+_proj/(kernel|lora_a|lora_b)$")


def matrix_rate_mask(params: Mapping[str, jax.Array]) -> dict[str, bool]:
  """Which parameters train at ``lr`` (True) rather than ``rest_lr`` (False).

  True at the 2-D attention/MLP kernels (the matrices GaLore/Fira/APOLLO project) and, under
  LoRA, at the adapters ``A`` and ``B`` of those layers; False at embeddings, norms and the
  output head.

  Args:
    params: the flat ``{name: array}`` parameter dict of the training loop.

  Returns:
    A dict with the same keys.
  """
  return {name: bool(_MATRIX_RATE.search(name)) and p.ndim == 2 for name, p in params.items()}


def lr_schedule(lr: float, steps: int, warmup_steps: int, min_lr_ratio: float = 0.1):
  r"""Linear warm-up to ``lr`` then cosine decay to ``min_lr_ratio · lr`` (GaLore/Fira recipe).

  .. math::
    \eta_t = \begin{cases} \eta\, t / t_w & t < t_w \\
      \eta\,\big(r + (1-r)\tfrac12(1+\cos(\pi\,\tfrac{t-t_w}{T-t_w}))\big) & t \ge t_w
    \end{cases}
  """
  if steps <= 0:
    raise ValueError(f"steps must be positive, got {steps}")
  if not 0 <= warmup_steps < steps:
    raise ValueError(f"warmup steps must be in [0, {steps}), got {warmup_steps}")
  return optax.warmup_cosine_decay_schedule(
    init_value=0.0,
    peak_value=lr,
    warmup_steps=warmup_steps,
    decay_steps=steps,
    end_value=lr * min_lr_ratio,
  )


class RatesState(NamedTuple):
  """State of :func:`scale_by_rates`: the two peak rates, float32 scalars."""

  lr: jax.Array
  rest_lr: jax.Array


def scale_by_rates(lr: float, rest_lr: float, params: Mapping[str, jax.Array]):
  """Multiplies the updates of the matrices (:func:`matrix_rate_mask`: the projected kernels,
  or LoRA's adapters) by ``lr`` and the others' by ``rest_lr``, rates
  held in the state (not compiled in), so runs that differ only in their rates run one
  compiled step. Chained after an optimizer built at rate 1 (``make_optimizer`` with a
  schedule of peak 1) it gives that optimizer at these rates (each update is linear in the
  rate when there is no weight decay).
  """
  proj = matrix_rate_mask(params)

  def init_fn(params):
    del params
    return RatesState(jnp.asarray(lr, jnp.float32), jnp.asarray(rest_lr, jnp.float32))

  def update_fn(updates, state, params=None):
    del params
    out = {k: u * (state.lr if proj[k] else state.rest_lr).astype(u.dtype)
           for k, u in updates.items()}  # fmt: skip
    return out, state

  return optax.GradientTransformation(init_fn, update_fn)


def make_optimizer(
  name: str,
  *,
  learning_rate,
  params: Mapping[str, jax.Array],
  rank: int = 128,
  update_proj_gap: int = 200,
  alpha: float = 0.25,
  weight_decay: float = 0.0,
  clip: float = 0.0,
  b1: float = 0.9,
  b2: float = 0.999,
  eps: float = 1e-6,
  fira_options: Mapping | None = None,
  projector: str = "svd",
  rest_lr_scale: float = 1.0,
) -> optax.GradientTransformation:
  """Builds the optimizer of a run.

  Args:
    name: one of ``adamw``, ``galore``, ``fira``, ``lora``, ``apollo``, ``apollo_mini``.
    learning_rate: float or optax schedule.
    params: the trainable flat parameter dict (used to choose the projected leaves).
    rank: projection rank of GaLore/Fira/APOLLO (APOLLO-Mini's is 1).
    update_proj_gap: steps between projector refreshes.
    alpha: GaLore ``scale`` / Fira ``alpha`` (APOLLO's ``scale`` keeps its default, 1 or
      128 for APOLLO-Mini; change it with ``fira_options={"scale": ...}``).
    weight_decay: decoupled weight decay λ.
    clip: clip the global gradient norm to this value first (0 disables).
    b1, b2, eps: Adam constants.
    projector: ``svd`` (exact truncated SVD, the official projector), ``eigh``
      (:func:`fira_jax.eigh_projector`: the same subspaces, faster) or ``rsvd``
      (:func:`fira_jax.randomized_svd_projector`); APOLLO always draws Gaussian projections.
    fira_options: extra keyword arguments for ``fira_jax.fira`` (or ``fira_jax.apollo``,
      ``fira_jax.apollo_mini``), e.g. the ablations ``{"gamma": None}`` (no growth limiter)
      and ``{"norm_scaling": "none"}`` (no scaling).
    rest_lr_scale: the updates of the parameters that are not projected kernels or LoRA
      adapters (see :func:`matrix_rate_mask`: embeddings, norms, output head) are multiplied by
      this, i.e. they train at ``rest_lr_scale · learning_rate`` on the same schedule (their
      decoupled weight decay too), as a separate optimizer parameter group would.

  Raises:
    ValueError: for an unknown name or a non-positive rank/gap.
  """
  if name not in OPTIMIZERS:
    raise ValueError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
  if not (math.isfinite(rest_lr_scale) and rest_lr_scale > 0):
    raise ValueError(f"rest_lr_scale must be finite and > 0, got {rest_lr_scale!r}")
  if name in _LOW_RANK:
    if not isinstance(rank, int) or rank <= 0:
      raise ValueError(f"--rank must be a positive int, got {rank!r}")
    if not isinstance(update_proj_gap, int) or update_proj_gap <= 0:
      raise ValueError(f"--update-proj-gap must be a positive int, got {update_proj_gap!r}")
    if projector not in PROJECTORS:
      raise ValueError(f"--projector must be one of {', '.join(PROJECTORS)}, got {projector!r}")
    # With a separate rate for the rest, the decay of the updated weights is added below, per
    # group, at each group's rate.
    split = rest_lr_scale != 1.0
    common = dict(
      update_proj_gap=update_proj_gap,
      projector_fn=PROJECTORS[projector](),
      b1=b1,
      b2=b2,
      eps=eps,
      weight_decay=0.0 if split else weight_decay,
      weight_dimension_numbers=projected_dimension_numbers(params),
    )
    options = dict(fira_options or {})
    if name == "fira":
      tx = fira(learning_rate, rank, alpha=alpha, **common, **options)
    elif name == "galore":
      tx = galore(learning_rate, rank, scale=alpha, **common)
    else:  # APOLLO draws seeded Gaussian projections: --projector does not apply
      del common["projector_fn"]
      if name == "apollo":
        tx = apollo(learning_rate, rank, **common, **options)
      else:
        tx = apollo_mini(learning_rate, **common, **options)
  else:
    tx = optax.adamw(learning_rate, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)
  if rest_lr_scale != 1.0:
    rest = {k: not m for k, m in matrix_rate_mask(params).items()}
    tx = optax.chain(tx, optax.masked(optax.scale(rest_lr_scale), rest))
    if name in _LOW_RANK and weight_decay:  # decay after the update, each group at its rate
      proj = {k: not r for k, r in rest.items()}
      rest_lr = (
        (lambda count: rest_lr_scale * learning_rate(count))
        if callable(learning_rate)
        else rest_lr_scale * learning_rate
      )
      tx = optax.chain(
        tx,
        add_decayed_weights_after_update(learning_rate, weight_decay, proj),
        add_decayed_weights_after_update(rest_lr, weight_decay, rest),
      )
  if clip > 0:
    tx = optax.chain(optax.clip_by_global_norm(clip), tx)
  return tx
