"""Target ConvNets as pure functions of a parameter pytree, with the spec a hypernetwork reads.

A target is a frozen (hashable) :class:`ConvNet`; its parameters are a plain dict

.. code-block:: text

  params = {"kernels": {name: HWIO kernel}, "norm": {name: {"scale", "bias"} (C,)},
            "head": {"kernel": (F, k), "bias": (k,)}}
  state  = {name: {"mean", "var"} (C,)}          # batch statistics of each norm layer

so parameters predicted by a hypernetwork, trained from scratch or fine-tuned all run through
:meth:`ConvNet.apply`. Convolutions have no bias. Norm layers are batch norms whose statistics
come from a reference batch (the support set, see :meth:`ConvNet.batch_stats`), never running
averages: ``train=True`` normalises with the batch's own statistics, ``train=False`` with
``state``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Literal

import jax
import jax.numpy as jnp

__all__ = ["LayerSpec", "ConvNet", "net_a", "net_b", "resnet18", "get_target", "TARGETS"]

_EPS = 1e-5


@dataclasses.dataclass(frozen=True)
class LayerSpec:
  """One generated layer of a target.

  Attributes:
    name: key in ``params["kernels"]`` (``"head"`` for the classifier).
    kind: ``"conv"`` (an HWIO kernel ``(kh, kw, c_in, c_out)``) or ``"dense"`` (``(in, out)``).
    shape: the kernel shape.
    relu_after: whether a ReLU follows (the fan-in gain is 2, else 1).
  """

  name: str
  kind: Literal["conv", "dense"]
  shape: tuple[int, ...]
  relu_after: bool = True

  @property
  def fan_in(self) -> int:
    return math.prod(self.shape[:-1])


@dataclasses.dataclass(frozen=True)
class ConvNet:
  """A target ConvNet: a plain conv stack (Net-A, Net-B) or a CIFAR ResNet-18.

  Attributes:
    name: the target's name.
    input_shape: ``(H, W, C)`` of its images.
    channels: output channels of the plain stack's convs (``family="plain"``).
    pool: per conv, ``"max"`` (2x2 max pool) or ``"none"``; the last feature map is averaged.
    family: ``"plain"`` or ``"resnet18"``.
    norm: ``"batch"`` (batch norm with statistics from a reference batch) or ``"none"``.
    normalize_features: L2-normalise the pooled feature before the head (a cosine classifier).
  """

  name: str
  input_shape: tuple[int, int, int]
  channels: tuple[int, ...] = ()
  pool: tuple[str, ...] = ()
  family: Literal["plain", "resnet18"] = "plain"
  norm: Literal["batch", "none"] = "batch"
  normalize_features: bool = False

  # ---- structure -------------------------------------------------------------------------
  def conv_specs(self) -> tuple[LayerSpec, ...]:
    """The conv kernels in network order (a ResNet's 1x1 projection follows its block)."""
    if self.family == "plain":
      c_in, out = self.input_shape[-1], []
      for i, c in enumerate(self.channels):
        out.append(LayerSpec(f"conv{i + 1}", "conv", (3, 3, c_in, c)))
        c_in = c
      return tuple(out)
    out = [LayerSpec("stem", "conv", (3, 3, self.input_shape[-1], 64))]
    c_in = 64
    for s, c in enumerate((64, 128, 256, 512)):
      for b in range(2):
        p = f"s{s + 1}b{b + 1}"
        out.append(LayerSpec(f"{p}_conv1", "conv", (3, 3, c_in, c)))
        out.append(LayerSpec(f"{p}_conv2", "conv", (3, 3, c, c)))
        if b == 0 and s > 0:
          out.append(LayerSpec(f"{p}_proj", "conv", (1, 1, c_in, c), relu_after=False))
        c_in = c
    return tuple(out)

  @property
  def feature_dim(self) -> int:
    return self.conv_specs()[-1].shape[-1]

  def head_spec(self, num_classes: int) -> LayerSpec:
    return LayerSpec("head", "dense", (self.feature_dim, num_classes), relu_after=False)

  def spec(self, num_classes: int | None = None) -> tuple[LayerSpec, ...]:
    """The generated layers in network order; with ``num_classes`` the Dense head last."""
    convs = self.conv_specs()
    return convs if num_classes is None else (*convs, self.head_spec(num_classes))

  def norm_names(self) -> tuple[str, ...]:
    return () if self.norm == "none" else tuple(s.name for s in self.conv_specs())

  # ---- parameters ------------------------------------------------------------------------
  def init(self, key: jax.Array, num_classes: int) -> dict:
    """He-normal kernels (``std = sqrt(gain / fan_in)``), unit norm scales, zero biases."""
    specs = self.spec(num_classes)
    keys = jax.random.split(key, len(specs))
    kernels = {}
    for k_, s in zip(keys, specs, strict=True):
      gain = 2.0 if s.relu_after else 1.0
      kernels[s.name] = jax.random.normal(k_, s.shape) * jnp.sqrt(gain / s.fan_in)
    head = {"kernel": kernels.pop("head"), "bias": jnp.zeros((num_classes,))}
    return {"kernels": kernels, "norm": self.init_norm(), "head": head}

  def init_norm(self) -> dict:
    """Identity affine parameters of the norm layers."""
    shapes = {s.name: s.shape[-1] for s in self.conv_specs()}
    return {
      n: {"scale": jnp.ones(shapes[n]), "bias": jnp.zeros(shapes[n])} for n in self.norm_names()
    }

  def check_input(self, x: jax.Array) -> None:
    """Raises ValueError unless ``x`` is a batch ``(N, H, W, C)`` of this target's images."""
    if x.ndim != 4 or tuple(x.shape[1:]) != tuple(self.input_shape):
      raise ValueError(
        f"{self.name} takes images of shape (N, {', '.join(map(str, self.input_shape))}), "
        f"got {tuple(x.shape)}"
      )

  # ---- forward ---------------------------------------------------------------------------
  def _norm(self, name, h, params, state, train, new_state):
    if self.norm == "none":
      return h
    if train:
      mean, var = h.mean(axis=(0, 1, 2)), h.var(axis=(0, 1, 2))
      new_state[name] = {"mean": mean, "var": var}
    else:
      mean, var = state[name]["mean"], state[name]["var"]
    p = params["norm"][name]
    return (h - mean) * jax.lax.rsqrt(var + _EPS) * p["scale"] + p["bias"]

  def features(
    self, params: dict, state: dict | None, x: jax.Array, *, train: bool
  ) -> tuple[jax.Array, dict, list[jax.Array]]:
    """The trunk: ``(pooled feature (N, F), batch statistics, pooled features per stage)``."""
    self.check_input(x)
    kern, new_state, taps = params["kernels"], {}, []

    def conv_bn(name, h, stride=1):
      h = _conv(h, kern[name], stride)
      return self._norm(name, h, params, state, train, new_state)

    h = x
    if self.family == "plain":
      for s, pool in zip(self.conv_specs(), self.pool, strict=True):
        h = jax.nn.relu(conv_bn(s.name, h))
        if pool == "max":
          h = _max_pool(h)
        taps.append(h.mean(axis=(1, 2)))
    else:
      h = jax.nn.relu(conv_bn("stem", h))
      for s in range(4):
        for b in range(2):
          p = f"s{s + 1}b{b + 1}"
          stride = 2 if (b == 0 and s > 0) else 1
          r = jax.nn.relu(conv_bn(f"{p}_conv1", h, stride))
          r = conv_bn(f"{p}_conv2", r)
          if f"{p}_proj" in kern:
            h = conv_bn(f"{p}_proj", h, stride)
          h = jax.nn.relu(h + r)
        taps.append(h.mean(axis=(1, 2)))
    feat = h.mean(axis=(1, 2))
    if self.normalize_features:
      feat = l2_normalize(feat)
    return feat, new_state, taps

  def apply(
    self, params: dict, state: dict | None, x: jax.Array, *, train: bool = False
  ) -> tuple[jax.Array, dict]:
    """Logits ``(N, k)`` of images ``x`` ``(N, H, W, C)`` and the batch statistics of ``x``.

    ``train=True`` normalises with ``x``'s own statistics (and returns them); ``train=False``
    with ``state`` (returned unchanged).
    """
    feat, new_state, _ = self.features(params, state, x, train=train)
    logits = feat @ params["head"]["kernel"] + params["head"]["bias"]
    return logits, (new_state if train else state)

  def batch_stats(self, params: dict, x: jax.Array) -> dict:
    """The norm layers' statistics on the reference batch ``x`` (e.g. the support set)."""
    return self.features(params, None, x, train=True)[1]


def l2_normalize(x: jax.Array, axis: int = -1) -> jax.Array:
  """``x / max(||x||, 1e-8)`` along ``axis``."""
  return x / jnp.maximum(jnp.linalg.norm(x, axis=axis, keepdims=True), 1e-8)


_DIMS = ("NHWC", "HWIO", "NHWC")


def _conv_plain(x: jax.Array, w: jax.Array, stride: int) -> jax.Array:
  return jax.lax.conv_general_dilated(x, w, (stride, stride), "SAME", dimension_numbers=_DIMS)


def _same_pad_low(size: int, k: int, stride: int) -> int:
  """The low-side padding of a ``SAME`` convolution (XLA puts the odd pixel on the high side)."""
  out = -(-size // stride)
  return max((out - 1) * stride + k - size, 0) // 2


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _conv(x: jax.Array, w: jax.Array, stride: int = 1) -> jax.Array:
  """``SAME`` convolution of ``x`` ``(N, H, W, C_in)`` with ``w`` ``(kh, kw, C_in, C_out)``.

  The value and the gradients are those of ``lax.conv_general_dilated``; only the form of the
  two gradient convolutions differs. Autodiff expresses them with swapped dimension labels
  (``f01b_i01o->01bf`` for ``∂/∂w``, ``01oi`` kernels for ``∂/∂x``); XLA:CPU rewrites those into
  its fast NHWC/HWIO form in the top-level program only, and inside a loop body
  (``lax.scan``/``lax.map``: scratch training, fine-tuning) runs them with a generic loop,
  ~30x slower. Here both are NHWC/HWIO convolutions of explicitly transposed operands::

    ∂x = conv(dilate_s(g), flip_hw(w)ᵀ)              (C_out -> C_in, padding k - 1 - pad)
    ∂w = conv(xᵀ (C_in, H, W, N), gᵀ (H', W', N, C_out), rhs dilation s)ᵀ
  """
  return _conv_plain(x, w, stride)


def _conv_fwd(x, w, stride):
  return _conv_plain(x, w, stride), (x, w)


def _conv_bwd(stride, res, g):
  x, w = res
  size, k, out = x.shape[1:3], w.shape[:2], g.shape[1:3]
  low = [_same_pad_low(n, kk, stride) for n, kk in zip(size, k, strict=True)]
  span = [(o - 1) * stride + 1 for o in out]  # the stride-dilated cotangent's extent
  pad_x = [
    (kk - 1 - lo, n - sp + lo) for n, kk, lo, sp in zip(size, k, low, span, strict=True)
  ]  # fmt: skip
  dx = jax.lax.conv_general_dilated(
    g, jnp.flip(w, (0, 1)).transpose(0, 1, 3, 2), (1, 1), pad_x, lhs_dilation=(stride, stride),
    dimension_numbers=_DIMS,
  )  # fmt: skip
  pad_w = [(lo, kk - 1 + sp - n - lo) for n, kk, lo, sp in zip(size, k, low, span, strict=True)]
  dw = jax.lax.conv_general_dilated(
    x.transpose(3, 1, 2, 0), g.transpose(1, 2, 0, 3), (1, 1), pad_w,
    rhs_dilation=(stride, stride), dimension_numbers=_DIMS,
  )  # fmt: skip
  return dx.astype(x.dtype), dw.transpose(1, 2, 0, 3).astype(w.dtype)


_conv.defvjp(_conv_fwd, _conv_bwd)


def _max_pool(h: jax.Array) -> jax.Array:
  """2x2 max pool, stride 2, ``VALID`` (an odd last row/column is dropped), as a reshape and a
  max: its gradient is an elementwise mask (a tie splits the gradient evenly; after a ReLU the
  only ties are zeros, whose gradient the ReLU stops), not XLA's ``select_and_scatter``, which
  is slow on XLA:CPU."""
  n, height, width, c = h.shape
  h = h[:, : height // 2 * 2, : width // 2 * 2]
  return h.reshape(n, height // 2, 2, width // 2, 2, c).max(axis=(2, 4))


def net_a(**kw) -> ConvNet:
  """Net-A for 28x28x1 images: 3 convs (32, 64, 64), max-pool after the first two.

  Generated conv parameters: 288 + 18,432 + 36,864 = 55,584.
  """
  return ConvNet("net_a", (28, 28, 1), (32, 64, 64), ("max", "max", "none"), **kw)


def net_b(**kw) -> ConvNet:
  """Net-B (ConvNet-4) for 32x32x3 images: four 64-channel conv blocks, each max-pooled.

  Generated conv parameters: 1,728 + 3 * 36,864 = 112,320.
  """
  return ConvNet("net_b", (32, 32, 3), (64, 64, 64, 64), ("max",) * 4, **kw)


def resnet18(input_shape: tuple[int, int, int] = (32, 32, 3), **kw) -> ConvNet:
  """ResNet-18 with the CIFAR stem (3x3, no max-pool): 17 3x3 kernels and 3 1x1 projections."""
  return ConvNet("resnet18", tuple(input_shape), family="resnet18", **kw)


TARGETS = {"net_a": net_a, "net_b": net_b, "resnet18": resnet18}


def get_target(name: str, **kw) -> ConvNet:
  """The target called ``name`` (``net_a``, ``net_b`` or ``resnet18``)."""
  if name not in TARGETS:
    raise ValueError(f"unknown target {name!r}; choose one of {sorted(TARGETS)}")
  return TARGETS[name](**kw)
