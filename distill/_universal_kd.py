"""Universal-KD: intermediate layers matched in output space through attention over layers."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from distill._validation import check_layers, check_positive

__all__ = ["universal_kd_loss"]

Array = jax.Array


def universal_kd_loss(
  student_layer_logits: Sequence[ArrayLike],
  teacher_layer_logits: Sequence[ArrayLike],
  student_features: Sequence[ArrayLike],
  teacher_features: Sequence[ArrayLike],
  *,
  temperature: ArrayLike = 1.0,
  similarity_scale: ArrayLike | None = None,
) -> Array:
  r"""Universal-KD [reconstructed]: match intermediate layers in output space.

  Pseudo-classifiers (linear heads) on intermediate layers give per-layer logits. Student
  layer ``i`` is matched to an attention-weighted mixture of the teacher layers'
  distributions, the attention coming from the similarity of the layers' representations:

  .. math::
    a_{ij} = \mathrm{softmax}_j(s\, \langle h_s^i, h_t^j \rangle),\quad
    \bar p_i = \sum_j a_{ij}\, \sigma_T(z_t^j),\quad
    L = \frac{1}{K_s} \sum_i T^2 \sum_c \bar p_{ic} (\log \bar p_{ic} - \log \sigma_T(z_s^i)_c)

  The paper's exact attention parameterisation was not available; the scale ``s`` is an
  argument (default :math:`1/\sqrt d`) and the representations must share a width ``d``
  (project them first, e.g. with :class:`LinearFilters`).

  Args:
    student_layer_logits: ``K_s`` arrays ``(B, C)`` from the student's pseudo-classifiers.
    teacher_layer_logits: ``K_t`` arrays ``(B, C)``.
    student_features: ``K_s`` pooled representations ``(B, d)``.
    teacher_features: ``K_t`` pooled representations ``(B, d)``.
    temperature: ``T > 0``.
    similarity_scale: ``s``; default ``1/sqrt(d)``.

  Returns:
    Per-example loss, shape ``(B,)``.

  References:
    Wu, Rezagholizadeh, Ghodsi, Ghaddar, *Universal-KD: Attention-based Output-Grounded
    Intermediate Layer Knowledge Distillation*, EMNLP 2021.
  """
  check_layers("student_layer_logits", student_layer_logits, "student_features", student_features)
  check_layers("teacher_layer_logits", teacher_layer_logits, "teacher_features", teacher_features)
  check_positive("temperature", temperature)
  zs = jnp.stack([jnp.asarray(z) for z in student_layer_logits], axis=1)  # (B, Ks, C)
  zt = jnp.stack([jnp.asarray(z) for z in teacher_layer_logits], axis=1)  # (B, Kt, C)
  hs = jnp.stack([jnp.asarray(h) for h in student_features], axis=1)  # (B, Ks, d)
  ht = jnp.stack([jnp.asarray(h) for h in teacher_features], axis=1)  # (B, Kt, d)
  if hs.shape[-1] != ht.shape[-1]:
    raise ValueError(
      f"student and teacher features must share a width, got {hs.shape[-1]} and {ht.shape[-1]}"
    )
  if zs.shape[-1] != zt.shape[-1]:
    raise ValueError(f"class counts differ: {zs.shape[-1]} and {zt.shape[-1]}")
  scale = hs.shape[-1] ** -0.5 if similarity_scale is None else similarity_scale
  att_BxKsxKt = jax.nn.softmax(scale * jnp.einsum("bid,bjd->bij", hs, ht), axis=-1)
  t = jnp.asarray(temperature)
  p_t = jax.nn.softmax(zt / t, axis=-1)
  mix = jnp.einsum("bij,bjc->bic", att_BxKsxKt, p_t)
  log_q = jax.nn.log_softmax(zs / t, axis=-1)
  log_mix = jnp.log(jnp.maximum(mix, jnp.finfo(mix.dtype).tiny))
  kl = jnp.sum(mix * (log_mix - log_q), axis=-1)  # (B, Ks)
  return t**2 * jnp.mean(kl, axis=-1)
