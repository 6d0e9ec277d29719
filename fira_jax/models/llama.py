"""A LLaMA-style decoder in Flax NNX: RMSNorm, rotary embeddings, SwiGLU, causal attention.

No biases anywhere and an untied output head, as in the LLaMA models that GaLore and Fira
pre-train. Parameters are float32; ``config.dtype`` sets the compute dtype (bf16 on
accelerators), and the logits are returned in float32 for a stable loss.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from fira_jax.models.configs import LlamaConfig


def _linear(din: int, dout: int, config: LlamaConfig, rngs: nnx.Rngs) -> nnx.Linear:
  return nnx.Linear(
    din,
    dout,
    use_bias=False,
    dtype=config.compute_dtype,
    param_dtype=jnp.float32,
    kernel_init=nnx.initializers.normal(config.init_std),
    rngs=rngs,
  )


class RMSNorm(nnx.Module):
  r"""Root-mean-square norm with a learned scale.

  .. math::
    y = \frac{x}{\sqrt{\operatorname{mean}(x^2) + \epsilon}} \odot g

  Computed in float32 and cast back to the input dtype.
  """

  def __init__(self, dim: int, eps: float = 1e-6):
    self.scale = nnx.Param(jnp.ones((dim,), jnp.float32))
    self.eps = eps

  def __call__(self, x_BxTxD: jax.Array) -> jax.Array:
    x = x_BxTxD.astype(jnp.float32)
    y = x * jax.lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + self.eps)
    return (y * self.scale[...]).astype(x_BxTxD.dtype)


def rotary_tables(seq_len: int, head_dim: int, theta: float) -> tuple[jax.Array, jax.Array]:
  r"""Cosine and sine tables of rotary embeddings, each of shape (seq_len, head_dim // 2).

  .. math::
    \omega_i = \theta^{-2i/h},\qquad \text{angle}_{t,i} = t\,\omega_i
  """
  inv_freq = 1.0 / (theta ** (jnp.arange(0, head_dim, 2, dtype=jnp.float32) / head_dim))
  angles_TxH2 = jnp.arange(seq_len, dtype=jnp.float32)[:, None] * inv_freq[None, :]
  return jnp.cos(angles_TxH2), jnp.sin(angles_TxH2)


def apply_rotary(x_BxTxNxH: jax.Array, cos_TxH2: jax.Array, sin_TxH2: jax.Array) -> jax.Array:
  """Rotates pairs (x[..., :h/2], x[..., h/2:]) by the position angle (the HF LLaMA layout)."""
  half = x_BxTxNxH.shape[-1] // 2
  x1, x2 = x_BxTxNxH[..., :half], x_BxTxNxH[..., half:]
  cos, sin = cos_TxH2[None, :, None, :], sin_TxH2[None, :, None, :]
  x1f, x2f = x1.astype(jnp.float32), x2.astype(jnp.float32)
  out = jnp.concatenate([x1f * cos - x2f * sin, x2f * cos + x1f * sin], axis=-1)
  return out.astype(x_BxTxNxH.dtype)


class Attention(nnx.Module):
  """Causal multi-head self-attention with rotary position embeddings."""

  def __init__(self, config: LlamaConfig, *, rngs: nnx.Rngs):
    d = config.d_model
    self.num_heads, self.head_dim = config.num_heads, config.head_dim
    self.q_proj = _linear(d, d, config, rngs)
    self.k_proj = _linear(d, d, config, rngs)
    self.v_proj = _linear(d, d, config, rngs)
    self.o_proj = _linear(d, d, config, rngs)

  def __call__(self, x_BxTxD: jax.Array, cos: jax.Array, sin: jax.Array) -> jax.Array:
    b, t, d = x_BxTxD.shape
    split = lambda y: y.reshape(b, t, self.num_heads, self.head_dim)  # noqa: E731
    q_BxTxNxH = apply_rotary(split(self.q_proj(x_BxTxD)), cos, sin)
    k_BxTxNxH = apply_rotary(split(self.k_proj(x_BxTxD)), cos, sin)
    v_BxTxNxH = split(self.v_proj(x_BxTxD))
    out_BxTxNxH = jax.nn.dot_product_attention(q_BxTxNxH, k_BxTxNxH, v_BxTxNxH, is_causal=True)
    return self.o_proj(out_BxTxNxH.reshape(b, t, d))


class SwiGLU(nnx.Module):
  r"""Gated MLP: :math:`W_\text{down}(\operatorname{silu}(x W_\text{gate}) \odot x W_\text{up})`."""

  def __init__(self, config: LlamaConfig, *, rngs: nnx.Rngs):
    d, f = config.d_model, config.ffn_dim
    self.gate_proj = _linear(d, f, config, rngs)
    self.up_proj = _linear(d, f, config, rngs)
    self.down_proj = _linear(f, d, config, rngs)

  def __call__(self, x_BxTxD: jax.Array) -> jax.Array:
    return self.down_proj(jax.nn.silu(self.gate_proj(x_BxTxD)) * self.up_proj(x_BxTxD))


class Block(nnx.Module):
  """Pre-norm decoder block: ``x + attn(norm(x))`` then ``x + mlp(norm(x))``."""

  def __init__(self, config: LlamaConfig, *, rngs: nnx.Rngs):
    self.attn_norm = RMSNorm(config.d_model, config.norm_eps)
    self.attn = Attention(config, rngs=rngs)
    self.mlp_norm = RMSNorm(config.d_model, config.norm_eps)
    self.mlp = SwiGLU(config, rngs=rngs)

  def __call__(self, x_BxTxD: jax.Array, cos: jax.Array, sin: jax.Array) -> jax.Array:
    x_BxTxD = x_BxTxD + self.attn(self.attn_norm(x_BxTxD), cos, sin)
    return x_BxTxD + self.mlp(self.mlp_norm(x_BxTxD))


class Llama(nnx.Module):
  """LLaMA decoder: token ids (B, T) → next-token logits (B, T, V) in float32.

  Example:
    >>> from flax import nnx
    >>> from fira_jax.models import Llama, get_config
    >>> model = Llama(get_config("smoke"), rngs=nnx.Rngs(0))
    >>> model(jnp.zeros((2, 16), jnp.int32)).shape
    (2, 16, 256)
  """

  def __init__(self, config: LlamaConfig, *, rngs: nnx.Rngs):
    self.config = config
    self.embed = nnx.Embed(
      config.vocab_size,
      config.d_model,
      dtype=config.compute_dtype,
      param_dtype=jnp.float32,
      embedding_init=nnx.initializers.normal(config.init_std),
      rngs=rngs,
    )
    self.layers = nnx.List([Block(config, rngs=rngs) for _ in range(config.num_layers)])
    self.norm = RMSNorm(config.d_model, config.norm_eps)
    self.lm_head = _linear(config.d_model, config.vocab_size, config, rngs)

  def __call__(self, tokens_BxT: jax.Array) -> jax.Array:
    t = tokens_BxT.shape[1]
    if t > self.config.max_seq_len:
      raise ValueError(f"sequence length {t} exceeds max_seq_len {self.config.max_seq_len}")
    cos, sin = rotary_tables(t, self.config.head_dim, self.config.rope_theta)
    x_BxTxD = self.embed(tokens_BxT)
    for block in self.layers:
      x_BxTxD = block(x_BxTxD, cos, sin)
    return self.lm_head(self.norm(x_BxTxD)).astype(jnp.float32)
