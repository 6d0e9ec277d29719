"""LoRA for the LLaMA linear layers: a frozen weight plus a trainable low-rank update.

The LoRA baseline of the GaLore/Fira papers wraps every attention and MLP linear layer;
embeddings, norms and the output head stay ordinary trainable parameters. The frozen
weight is stored as :class:`FrozenWeight` (not an ``nnx.Param``), so filtering the model by
``nnx.Param`` yields exactly what the optimizer should see: A, B and the unwrapped leaves.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from fira_jax.models.llama import Llama


class FrozenWeight(nnx.Variable):
  """A weight that is used in the forward pass but never trained."""


class LoRALinear(nnx.Module):
  r"""A linear layer with a frozen kernel W (in × out) and a low-rank trainable update.

  .. math::
    y = x W + \frac{\alpha}{r}\, x A B,\qquad A \in \mathbb{R}^{\text{in}\times r},\;
    B \in \mathbb{R}^{r\times \text{out}}

  A is drawn uniformly in :math:`\pm 1/\sqrt{\text{in}}` and B starts at zero, so the wrapped
  layer initially computes exactly ``x W``. ``merge()`` folds the update into W (for
  inference) and ``unmerge()`` takes it out again.
  """

  def __init__(self, base: nnx.Linear, rank: int, alpha: float, *, rngs: nnx.Rngs):
    if not isinstance(rank, int) or rank <= 0:
      raise ValueError(f"LoRA rank must be a positive int, got {rank!r}")
    if getattr(base, "bias", None) is not None and base.bias is not None:
      raise ValueError("LoRALinear wraps bias-free nnx.Linear layers only")
    din, dout = base.kernel.shape
    self.kernel = FrozenWeight(base.kernel[...])
    bound = 1.0 / (din**0.5)
    self.lora_a = nnx.LoRAParam(
      jax.random.uniform(rngs.params(), (din, rank), jnp.float32, -bound, bound)
    )
    self.lora_b = nnx.LoRAParam(jnp.zeros((rank, dout), jnp.float32))
    self.scale = alpha / rank
    self.dtype = base.dtype
    self.merged = False

  def delta(self) -> jax.Array:
    """The low-rank update ``(α/r) A B`` of shape (in, out)."""
    return self.scale * (self.lora_a[...] @ self.lora_b[...])

  def __call__(self, x: jax.Array) -> jax.Array:
    dtype = self.dtype or x.dtype
    y = x.astype(dtype) @ self.kernel[...].astype(dtype)
    if self.merged:
      return y
    a, b = self.lora_a[...].astype(dtype), self.lora_b[...].astype(dtype)
    return y + (self.scale * ((x.astype(dtype) @ a) @ b)).astype(dtype)

  def merge(self) -> None:
    """W ← W + (α/r) A B; the forward pass then skips the adapter."""
    if not self.merged:
      self.kernel[...] = self.kernel[...] + self.delta()
      self.merged = True

  def unmerge(self) -> None:
    """W ← W − (α/r) A B; undoes :meth:`merge`."""
    if self.merged:
      self.kernel[...] = self.kernel[...] - self.delta()
      self.merged = False


def _lora_layers(model: Llama):
  for block in model.layers:
    for parent in (block.attn, block.mlp):
      for name, value in list(vars(parent).items()):
        yield parent, name, value


def apply_lora(model: Llama, rank: int, alpha: float = 32.0, *, rngs: nnx.Rngs) -> Llama:
  """Wraps every attention and MLP ``nnx.Linear`` of ``model`` in :class:`LoRALinear`, in place.

  Args:
    model: a :class:`~fira_jax.models.Llama`.
    rank: LoRA rank r.
    alpha: LoRA α; the update is scaled by α / r.
    rngs: random streams for A.

  Returns:
    The same ``model`` object, modified.
  """
  if not isinstance(model, Llama):
    raise TypeError(f"apply_lora expects a fira_jax Llama model, got {type(model).__name__}")
  for parent, name, value in _lora_layers(model):
    if isinstance(value, nnx.Linear):
      setattr(parent, name, LoRALinear(value, rank, alpha, rngs=rngs))
  return model


def merge_lora(model: Llama) -> Llama:
  """Merges every LoRA update into its frozen kernel (in place)."""
  for _, _, value in _lora_layers(model):
    if isinstance(value, LoRALinear):
      value.merge()
  return model


def unmerge_lora(model: Llama) -> Llama:
  """Takes every merged LoRA update out of its kernel again (in place)."""
  for _, _, value in _lora_layers(model):
    if isinstance(value, LoRALinear):
      value.unmerge()
  return model
