"""PudNet: a hypernetwork that maps a labelled support set to the parameters of a ConvNet.

Wang, Feng, Li, Yuan, Wang, "Learning to Generate Parameters of ConvNets for Unseen Image
Data", IEEE TIP 2024 (arXiv 2310.11862).

Forward pass for a support set ``{(x_i, y_i)}_{i=1..N}`` and a target with ``L`` generated layers:

.. math::

  e_i = \\mathrm{GELU}(\\mathrm{BN}_{set}(W\\,\\mathrm{CNN}(x_i))) \\in R^{G d}, \\quad
  s = \\tfrac1N \\textstyle\\sum_i e_i, \\quad H_0 = \\mathrm{reshape}(s, (G, d))

  (o_\\ell, H_\\ell) = \\mathrm{GRU}^{G}(x_\\ell, H_{\\ell-1}), \\quad
  y_\\ell = \\mathrm{ReLU}(D o_\\ell), \\quad H_\\ell \\leftarrow \\mathrm{LN}(H_\\ell), \\quad
  x_{\\ell+1} = y_\\ell

  z_\\ell = \\mathrm{LN}_\\ell((1-a)\\,y_\\ell + a\\,\\mathrm{mean}_g H_0[g]), \\qquad
  \\theta_\\ell = \\mathrm{head}_\\ell(z_\\ell)\\cdot\\sqrt{\\beta_\\ell / \\mathrm{fan\\_in}_\\ell}

with ``G`` stacked GRU layers of width ``d``, ``x_1 ~ N(0, I)`` fixed at construction, the set
statistics ``BN_set`` taken over the support set (so θ is a permutation-invariant function of
the support set alone) and ``β = 2`` before a ReLU, else 1. The recurrence runs under
``jax.lax.scan`` over ``ℓ``; the heads (different shapes per layer) run in a Python loop.

Classifier heads (``head=``): ``proto_cosine`` exports ``W = τ [normalize(mean_c φ)]`` (a
bias-free Dense layer over L2-normalised features, τ learned, initially 10);
``predicted_fc``/``canonical_fc`` generate the Dense layer like the other layers.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from hypernet._convnet import ConvNet, LayerSpec, l2_normalize

__all__ = ["PudNet", "predict", "check_support"]

HeadKind = Literal["proto_cosine", "predicted_fc", "canonical_fc"]


def _he(key, shape, fan_in):
  return jax.random.normal(key, shape) * jnp.sqrt(1.0 / fan_in)


class _SetEncoder(nnx.Module):
  """Per image: 3 x (conv 5x5 stride 2, GELU) → Dense(flat → G d); then set-BN, GELU."""

  def __init__(self, in_shape: tuple[int, int, int], out: int, *, rngs: nnx.Rngs):
    h, w, c = in_shape
    chans = (c, 16, 32, 32)
    self.convs = nnx.List(
      [
        nnx.Conv(a, b, (5, 5), strides=2, padding="SAME", rngs=rngs)
        for a, b in zip(chans, chans[1:], strict=False)
      ]
    )
    for _ in range(3):
      h, w = math.ceil(h / 2), math.ceil(w / 2)
    self.dense = nnx.Linear(h * w * 32, out, rngs=rngs)
    self.bn_scale = nnx.Param(jnp.ones((out,)))
    self.bn_bias = nnx.Param(jnp.zeros((out,)))

  def __call__(self, x: jax.Array) -> jax.Array:
    h = x
    for conv in self.convs:
      h = jax.nn.gelu(conv(h))
    e = self.dense(h.reshape(h.shape[0], -1))
    mean, var = e.mean(0), e.var(0)  # statistics of the set itself
    e = (e - mean) * jax.lax.rsqrt(var + 1e-5) * self.bn_scale[...] + self.bn_bias[...]
    return jax.nn.gelu(e)


class _ConvHead(nnx.Module):
  """z → Dense(d → h kh kw), GELU → (kh, kw, h) → 1x1 (h → 2h), GELU → 1x1 (2h → c_out c_in)."""

  def __init__(self, d: int, h: int, spec: LayerSpec, *, rngs: nnx.Rngs):
    kh, kw, c_in, c_out = spec.shape
    self.shape = (kh, kw, c_in, c_out)
    self.fc = nnx.Linear(d, h * kh * kw, rngs=rngs)
    self.mix = nnx.Linear(h, 2 * h, rngs=rngs)
    self.out = nnx.Linear(2 * h, c_out * c_in, rngs=rngs)

  def __call__(self, z: jax.Array) -> jax.Array:
    kh, kw, c_in, c_out = self.shape
    g = jax.nn.gelu(self.fc(z)).reshape(kh, kw, -1)
    g = self.out(jax.nn.gelu(self.mix(g)))  # (kh, kw, c_out * c_in), index o * c_in + i
    return g.reshape(kh, kw, c_out, c_in).transpose(0, 1, 3, 2)


class _DenseHead(nnx.Module):
  """z → Dense(d → h), GELU, Dense(h → in out); bias: Dense(d → out)."""

  def __init__(self, d: int, h: int, spec: LayerSpec, *, rngs: nnx.Rngs):
    self.shape = spec.shape
    self.fc = nnx.Linear(d, h, rngs=rngs)
    self.out = nnx.Linear(h, math.prod(spec.shape), rngs=rngs)
    self.bias = nnx.Linear(d, spec.shape[-1], rngs=rngs)

  def __call__(self, z: jax.Array) -> tuple[jax.Array, jax.Array]:
    return self.out(jax.nn.gelu(self.fc(z))).reshape(self.shape), self.bias(z)


class PudNet(nnx.Module):
  """The hypernetwork; :func:`predict` turns a support set into target parameters.

  Args:
    target: the ConvNet whose parameters are generated (its spec sizes the heads).
    num_classes: ``k``, the classes of a sub-dataset.
    d: GRU width; ``gru_layers``: stacked GRU layers ``G``; ``h``: head channels.
    skt_a: the sketch mix ``a`` of the layer codes (0 disables it).
    learn_x1: train the first GRU input instead of keeping the fixed random vector.
    direction: ``"forward"``, or ``"bidirectional"`` (a reverse scan, outputs summed).
    sketch_labels: ``"none"`` (images only) or ``"class_means"`` (per-class embedding means, in
      label order, through Dense(k G d → G d), added to the sketch).
    head: ``"proto_cosine"``, ``"predicted_fc"`` or ``"canonical_fc"``.
    weight_norm: ``"fanin"`` (scale by ``sqrt(β / fan_in)``) or ``"none"``.
    conditioning: ``"sketch"``, or ``"blind"`` (``H_0`` a learned constant: a dataset-blind
      control that sees only the architecture).
    ahru: the recurrence; False gives ``z_ℓ = Dense_ℓ(s)`` (an ablation).
    sketch_classes: if > 0, a Dense(G d → sketch_classes) probe on ``s`` for the auxiliary
      class-identity loss.
    rngs: the parameter initialisation streams.
  """

  def __init__(
    self,
    target: ConvNet,
    num_classes: int,
    *,
    d: int = 128,
    gru_layers: int = 2,
    h: int = 8,
    skt_a: float = 0.1,
    learn_x1: bool = False,
    direction: Literal["forward", "bidirectional"] = "forward",
    sketch_labels: Literal["none", "class_means"] = "none",
    head: HeadKind = "proto_cosine",
    weight_norm: Literal["fanin", "none"] = "fanin",
    conditioning: Literal["sketch", "blind"] = "sketch",
    ahru: bool = True,
    sketch_classes: int = 0,
    rngs: nnx.Rngs,
  ):
    _check_choice("direction", direction, ("forward", "bidirectional"))
    _check_choice("sketch_labels", sketch_labels, ("none", "class_means"))
    _check_choice("head", head, ("proto_cosine", "predicted_fc", "canonical_fc"))
    _check_choice("weight_norm", weight_norm, ("fanin", "none"))
    _check_choice("conditioning", conditioning, ("sketch", "blind"))
    if head == "predicted_fc" and sketch_labels != "class_means":
      raise ValueError(
        "head='predicted_fc' needs sketch_labels='class_means' (labels are permuted)"
      )
    if num_classes < 2:
      raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    self.target = dataclasses.replace(target, normalize_features=head == "proto_cosine")
    self.num_classes, self.d, self.gru_layers = num_classes, d, gru_layers
    self.skt_a, self.direction, self.sketch_labels = skt_a, direction, sketch_labels
    self.head, self.weight_norm, self.conditioning, self.ahru = (
      head,
      weight_norm,
      conditioning,
      ahru,
    )
    width = d * gru_layers
    self.layers = self.target.spec(None if head == "proto_cosine" else num_classes)
    n = len(self.layers)
    self.encoder = _SetEncoder(self.target.input_shape, width, rngs=rngs)
    if sketch_labels == "class_means":
      self.label_mix = nnx.Linear(num_classes * width, width, rngs=rngs)
    if conditioning == "blind":
      self.h0 = nnx.Param(0.1 * jax.random.normal(rngs.params(), (gru_layers, d)))
    x1_kind = nnx.Param if learn_x1 else nnx.Variable
    starts = 2 if direction == "bidirectional" else 1
    self.x1 = x1_kind(jax.random.normal(rngs.params(), (starts, d)))
    if ahru:
      self.cells = nnx.List([nnx.GRUCell(d, d, rngs=rngs) for _ in range(gru_layers)])
      self.out = nnx.Linear(d, d, rngs=rngs)
      self.state_norm = nnx.LayerNorm(d, rngs=rngs)
    else:
      self.direct_w = nnx.Param(_he(rngs.params(), (n, width, d), width))
      self.direct_b = nnx.Param(jnp.zeros((n, d)))
    self.code_scale = nnx.Param(jnp.ones((n, d)))
    self.code_bias = nnx.Param(jnp.zeros((n, d)))
    self.heads = nnx.Dict(
      {
        s.name: (_ConvHead if s.kind == "conv" else _DenseHead)(d, h, s, rngs=rngs)
        for s in self.layers
      }
    )
    norm = self.target.init_norm()  # shared target norm affine (before the mapping)
    self.norm_scale = nnx.Dict({n: nnx.Param(p["scale"]) for n, p in norm.items()})
    self.norm_bias = nnx.Dict({n: nnx.Param(p["bias"]) for n, p in norm.items()})
    if head == "proto_cosine":
      self.tau = nnx.Param(jnp.asarray(10.0, jnp.float32))  # not weak-typed: one compile
    if sketch_classes:
      self.sketch_probe = nnx.Linear(width, sketch_classes, rngs=rngs)

  # ---- pieces ----------------------------------------------------------------------------
  def sketch(self, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(s (G d,), per-image embeddings (N, G d))`` of a support set."""
    e = self.encoder(x)
    s = e.mean(0)
    if self.sketch_labels == "class_means":
      onehot = jax.nn.one_hot(y, self.num_classes)  # (N, k)
      means = onehot.T @ e / jnp.maximum(onehot.sum(0), 1.0)[:, None]
      s = s + self.label_mix(means.reshape(-1))
    return s, e

  def layer_codes(self, s: jax.Array) -> jax.Array:
    """The codes ``z_ℓ`` ``(L, d)`` of the generated layers from the sketch ``s``."""
    n, d, g = len(self.layers), self.d, self.gru_layers
    h0 = self.h0[...] if self.conditioning == "blind" else s.reshape(g, d)
    if self.conditioning == "blind":
      s = h0.reshape(-1)
    if not self.ahru:
      return jnp.einsum("w,nwd->nd", s, self.direct_w[...]) + self.direct_b[...]
    x1 = self.x1[...]

    def step(carry, _):
      hs, x = carry
      new = []
      for cell, hl in zip(self.cells, hs, strict=True):
        hl, x = cell(hl, x)
        new.append(hl)
      y = jax.nn.relu(self.out(x))
      return (self.state_norm(jnp.stack(new)), y), y

    _, ys = jax.lax.scan(step, (h0, x1[0]), length=n)
    if self.direction == "bidirectional":
      _, back = jax.lax.scan(step, (h0, x1[1]), length=n, reverse=True)
      ys = ys + back
    mixed = (1 - self.skt_a) * ys + self.skt_a * h0.mean(0)
    mu, var = mixed.mean(-1, keepdims=True), mixed.var(-1, keepdims=True)
    return (mixed - mu) * jax.lax.rsqrt(var + 1e-6) * self.code_scale[...] + self.code_bias[...]

  def _scale(self, spec: LayerSpec, w: jax.Array) -> jax.Array:
    if self.weight_norm == "none":
      return w
    return w * jnp.sqrt((2.0 if spec.relu_after else 1.0) / spec.fan_in)

  def target_norm(self) -> dict:
    """The shared norm-layer affine parameters of the target (scale ``2 σ(p/2)``, bias
    ``tanh(p/5)`` when ``weight_norm='fanin'``, identity-initialised)."""
    out = {}
    for n in self.target.norm_names():
      scale, bias = self.norm_scale[n][...], self.norm_bias[n][...]
      if self.weight_norm == "fanin":
        scale, bias = 2 * jax.nn.sigmoid(0.5 * (scale - 1.0)), jnp.tanh(0.2 * bias)
      out[n] = {"scale": scale, "bias": bias}
    return out

  def generate(self, x: jax.Array, y: jax.Array) -> tuple[dict, dict, jax.Array]:
    """``(params, state, s)``: target parameters, norm statistics on the support set, sketch."""
    s, _ = self.sketch(x, y)
    z = self.layer_codes(s)
    kernels, head = {}, None
    for i, spec in enumerate(self.layers):
      out = self.heads[spec.name](z[i])
      if spec.kind == "dense":
        head = {"kernel": self._scale(spec, out[0]), "bias": out[1]}
      else:
        kernels[spec.name] = self._scale(spec, out)
    params = {"kernels": kernels, "norm": self.target_norm()}
    if head is None:  # prototype head: a cosine classifier over the support features
      params["head"] = {
        "kernel": jnp.zeros((self.target.feature_dim, self.num_classes)),
        "bias": jnp.zeros((self.num_classes,)),
      }
      feat, state, _ = self.target.features(params, None, x, train=True)
      params["head"]["kernel"] = self.tau[...] * prototypes(feat, y, self.num_classes).T
    else:
      params["head"] = head
      state = self.target.batch_stats(params, x)
    return params, state, s

  def __call__(self, x: jax.Array, y: jax.Array) -> tuple[dict, dict]:
    params, state, _ = self.generate(x, y)
    return params, state


def prototypes(feat: jax.Array, y: jax.Array, num_classes: int) -> jax.Array:
  """L2-normalised class means ``(k, F)`` of features ``(N, F)`` with labels ``y`` ``(N,)``."""
  onehot = jax.nn.one_hot(y, num_classes)
  return l2_normalize(onehot.T @ feat / jnp.maximum(onehot.sum(0), 1.0)[:, None])


def _check_choice(name, value, allowed):
  if value not in allowed:
    raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


def check_support(target: ConvNet, x, y, num_classes: int) -> None:
  """Raises ValueError for an empty support set, a wrong image shape, labels outside
  ``[0, k)`` or a class without support images."""
  if np.ndim(x) < 1 or np.shape(x)[0] == 0:
    raise ValueError("the support set is empty: give at least one image per class")
  target.check_input(jnp.asarray(x))
  y = np.asarray(y)
  if y.shape != (np.shape(x)[0],):
    raise ValueError(f"support labels must have shape ({np.shape(x)[0]},), got {y.shape}")
  if y.min() < 0 or y.max() >= num_classes:
    raise ValueError(f"support labels must lie in [0, {num_classes}), got {y.min()}..{y.max()}")
  missing = sorted(set(range(num_classes)) - set(y.tolist()))
  if missing:
    raise ValueError(f"classes {missing} have no support image (k = {num_classes})")


@nnx.jit
def _predict(model: PudNet, x: jax.Array, y: jax.Array) -> tuple[dict, dict]:
  return model(x, y)


def predict(model: PudNet, support_x, support_y) -> tuple[dict, dict]:
  """Target parameters for a support set in one jitted forward pass.

  Args:
    model: a (meta-trained) :class:`PudNet`.
    support_x: images ``(N, H, W, C)`` of the target's input shape.
    support_y: labels ``(N,)`` in ``[0, k)``, every class present.

  Returns:
    ``(params, state)`` for ``model.target.apply(params, state, x)``: the generated parameters
    and the norm statistics of the support set. The statistics are returned rather than folded
    into ``params`` because the target's batch norms keep no running averages: a network
    predicted for a sub-dataset normalises its test images with the statistics of that
    sub-dataset's support set (``state`` is what ``target.batch_stats(params, support_x)``
    gives). Keeping them explicit lets trained, fine-tuned and predicted parameters share one
    ``apply`` and lets a caller re-estimate them on more images of the same data.
  """
  check_support(model.target, support_x, support_y, model.num_classes)
  return _predict(model, jnp.asarray(support_x, jnp.float32), jnp.asarray(support_y, jnp.int32))
