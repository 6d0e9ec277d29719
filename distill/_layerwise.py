"""Intermediate-layer distillation: hidden-state matching, TED, MoEBERT, Universal-KD.

Hidden states are lists with one array per matched layer, each ``(B, ..., d)``; every loss
returns one value per example, shape ``(B,)``. Optional ``where`` masks are ``(B, ...)`` over
the positions between the batch and the feature axis (e.g. valid tokens ``(B, L)``).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx
from jax.typing import ArrayLike

from distill import _validation as v
from distill._kd import cross_entropy, kd_loss, symmetric_kl_from_logits

Array = jax.Array


class LinearFilters(nnx.Module):
  """One linear map per matched layer: FitNets projections ``W_k`` or TED filters ``g^k``.

  Args:
    in_features: input width of each layer's hidden state (one entry per layer).
    out_features: common output width.
    rngs: random streams for the initialisers.
  """

  def __init__(self, in_features: Sequence[int], out_features: int, *, rngs: nnx.Rngs):
    v.check_nonempty_sequence("in_features", in_features)
    self.layers = nnx.List([nnx.Linear(d, out_features, rngs=rngs) for d in in_features])

  def __call__(self, hidden: Sequence[Array]) -> list[Array]:
    if len(hidden) != len(self.layers):
      raise ValueError(f"expected {len(self.layers)} hidden states, got {len(hidden)}")
    return [layer(h) for layer, h in zip(self.layers, hidden, strict=True)]


def _masked_position_mean(x: Array, where: ArrayLike | None) -> Array:
  """Mean over all axes but the first of ``x`` of shape ``(B, ...)``, optionally masked."""
  axes = tuple(range(1, x.ndim))
  if where is None:
    return jnp.mean(x, axis=axes) if axes else x
  v.check_where("where", where, x.shape)
  m = jnp.asarray(where, x.dtype)
  return jnp.sum(x * m, axis=axes) / jnp.maximum(jnp.sum(m, axis=axes), 1.0)


def _check_layers(name_s: str, hs: Sequence, name_t: str, ht: Sequence) -> None:
  v.check_nonempty_sequence(name_s, hs)
  if len(hs) != len(ht):
    raise ValueError(f"{name_s} and {name_t} must hold as many layers, got {len(hs)} and {len(ht)}")


def hidden_state_loss(
  student_hidden: Sequence[ArrayLike],
  teacher_hidden: Sequence[ArrayLike],
  projections: Sequence[ArrayLike],
  *,
  layer_map: Sequence[int] | None = None,
  where: ArrayLike | None = None,
) -> Array:
  r"""FitNets-style hidden-state matching with learned projections.

  .. math::
    L = \sum_k \operatorname{mean}_{\text{positions}} \| H_s^k W_k - H_t^{m(k)} \|_2^2

  Args:
    student_hidden: ``K`` arrays ``(B, ..., d_s^k)``.
    teacher_hidden: teacher layers ``(B, ..., d_t)``; indexed through ``layer_map``.
    projections: ``K`` matrices ``W_k`` of shape ``(d_s^k, d_t)`` (e.g. the kernels of
      :class:`LinearFilters`).
    layer_map: ``m(k)``, the teacher layer matched to student layer ``k`` (default: identity,
      which needs as many teacher as student layers).
    where: optional mask of valid positions ``(B, ...)``.

  Returns:
    Per-example loss, shape ``(B,)``.

  References:
    Romero et al., *FitNets: Hints for Thin Deep Nets*, ICLR 2015 (arXiv:1412.6550).
  """
  v.check_nonempty_sequence("student_hidden", student_hidden)
  if len(projections) != len(student_hidden):
    raise ValueError(
      f"projections must hold one matrix per student layer ({len(student_hidden)}), "
      f"got {len(projections)}"
    )
  if layer_map is None:
    _check_layers("student_hidden", student_hidden, "teacher_hidden", teacher_hidden)
    layer_map = range(len(student_hidden))
  elif len(layer_map) != len(student_hidden):
    raise ValueError(f"layer_map must have {len(student_hidden)} entries, got {len(layer_map)}")
  total = 0.0
  for hs, w, m in zip(student_hidden, projections, layer_map, strict=True):
    if not 0 <= m < len(teacher_hidden):
      raise ValueError(f"layer_map entry {m} is not a teacher layer (0..{len(teacher_hidden) - 1})")
    pred = jnp.asarray(hs) @ jnp.asarray(w)
    v.check_same_shape(
      "projected student hidden state", pred, "teacher hidden state", teacher_hidden[m]
    )
    sq = jnp.sum((pred - jnp.asarray(teacher_hidden[m])) ** 2, axis=-1)
    total = total + _masked_position_mean(sq, where)
  return total


def _mse_per_example(a: ArrayLike, b: ArrayLike, where: ArrayLike | None) -> Array:
  v.check_same_shape("student hidden state", a, "teacher hidden state", b)
  sq = jnp.mean((jnp.asarray(a) - jnp.asarray(b)) ** 2, axis=-1)
  return _masked_position_mean(sq, where)


def ted_loss(
  student_logits: ArrayLike,
  teacher_logits: ArrayLike,
  labels: ArrayLike,
  student_filtered: Sequence[ArrayLike],
  teacher_filtered: Sequence[ArrayLike],
  *,
  alpha_kl: ArrayLike = 5.0,
  alpha_mse: ArrayLike = 7500.0,
  temperature: ArrayLike = 2.0,
  where: ArrayLike | None = None,
) -> Array:
  r"""TED stage-2 objective: task loss + KD + task-aware filtered layer matching.

  .. math::
    L = \ell_{CE}(y, z_s) + \alpha_{kl} T^2 \mathrm{KL}(\sigma_T(z_t)\|\sigma_T(z_s))
      + \alpha_{mse} \frac1K \sum_k \mathrm{MSE}(g_s^k(H_s^k), g_t^k(H_t^k))

  The filters ``g`` are e.g. a :class:`LinearFilters` per network. In stage 1 the teacher
  filters are trained (teacher frozen) with the task loss of a head on ``g_t^k(H_t^k)``; in
  stage 2 they are frozen (pass ``jax.lax.stop_gradient`` of their outputs). Defaults follow
  the paper's MNLI example (``alpha_kl=5``, ``alpha_mse=7500``, ``T=2``).

  Args:
    student_logits: ``(B, C)``.
    teacher_logits: ``(B, C)``.
    labels: ``(B,)`` integer labels.
    student_filtered: ``K`` arrays ``g_s^k(H_s^k)`` of shape ``(B, ..., d)``.
    teacher_filtered: ``K`` arrays ``g_t^k(H_t^k)``, same shapes.
    alpha_kl: weight of the KD term.
    alpha_mse: weight of the filtered-layer term.
    temperature: KD temperature ``T > 0``.
    where: optional mask of valid positions of the hidden states ``(B, ...)``.

  Returns:
    Per-example loss, shape ``(B,)``.

  References:
    Liang et al., *Less is More: Task-aware Layer-wise Distillation for Language Model
    Compression*, ICML 2023 (arXiv:2210.01351).
  """
  _check_layers("student_filtered", student_filtered, "teacher_filtered", teacher_filtered)
  task = cross_entropy(student_logits, labels)
  kd = kd_loss(student_logits, teacher_logits, temperature=temperature)
  mse = sum(
    _mse_per_example(s, t, where) for s, t in zip(student_filtered, teacher_filtered, strict=True)
  ) / len(student_filtered)
  return task + alpha_kl * kd + alpha_mse * mse


def moebert_loss(
  student_logits: ArrayLike,
  teacher_logits: ArrayLike,
  labels: ArrayLike,
  student_hidden: Sequence[ArrayLike],
  teacher_hidden: Sequence[ArrayLike],
  *,
  lam: ArrayLike = 5.0,
  where: ArrayLike | None = None,
) -> Array:
  r"""MoEBERT layer-wise distillation objective.

  .. math::
    L = \ell_{CE}(y, z_s) + \lambda \Big[\sum_{l=0}^{L} \mathrm{MSE}(H_s^l, H_t^l)
      + \tfrac12 \sum_c (p_c - q_c)(\log p_c - \log q_c)\Big]

  with ``p``/``q`` the teacher/student predictions (the symmetric KL).

  Args:
    student_logits: ``(B, C)``.
    teacher_logits: ``(B, C)``.
    labels: ``(B,)`` integer labels.
    student_hidden: ``L+1`` arrays (embeddings and every layer) ``(B, ..., d)``.
    teacher_hidden: the teacher's, same shapes.
    lam: ``λ`` (5 in the paper).
    where: optional mask of valid positions ``(B, ...)``.

  Returns:
    Per-example loss, shape ``(B,)``.

  References:
    Zuo et al., *MoEBERT: from BERT to Mixture-of-Experts via Importance-Guided Adaptation*,
    NAACL 2022 (arXiv:2204.07675).
  """
  _check_layers("student_hidden", student_hidden, "teacher_hidden", teacher_hidden)
  task = cross_entropy(student_logits, labels)
  mse = sum(
    _mse_per_example(s, t, where) for s, t in zip(student_hidden, teacher_hidden, strict=True)
  )
  return task + lam * (mse + symmetric_kl_from_logits(teacher_logits, student_logits))


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
  _check_layers("student_layer_logits", student_layer_logits, "student_features", student_features)
  _check_layers("teacher_layer_logits", teacher_layer_logits, "teacher_features", teacher_features)
  v.check_positive("temperature", temperature)
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
