"""Typed LLaMA configurations: the Fira paper's sizes and small ones that train on a CPU."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


@dataclasses.dataclass(frozen=True)
class LlamaConfig:
  """Shape of a LLaMA-style decoder (RMSNorm, RoPE, SwiGLU, no biases, untied head).

  Attributes:
    vocab_size: number of token ids V (the embedding is V × d, the head d × V).
    d_model: width d of the residual stream.
    ffn_dim: hidden width of the SwiGLU MLP.
    num_heads: attention heads; ``d_model`` must be divisible by it.
    num_layers: decoder blocks.
    max_seq_len: longest sequence the rotary table is built for.
    rope_theta: base of the rotary frequencies.
    norm_eps: ε of RMSNorm.
    init_std: standard deviation of the normal initialiser of every weight matrix.
    dtype: compute dtype (``"float32"`` or ``"bfloat16"``); parameters stay float32.
  """

  vocab_size: int = 32000
  d_model: int = 512
  ffn_dim: int = 1376
  num_heads: int = 8
  num_layers: int = 8
  max_seq_len: int = 256
  rope_theta: float = 10000.0
  norm_eps: float = 1e-6
  init_std: float = 0.02
  dtype: str = "float32"

  def __post_init__(self):
    for name in ("vocab_size", "d_model", "ffn_dim", "num_heads", "num_layers", "max_seq_len"):
      value = getattr(self, name)
      if not isinstance(value, int) or value <= 0:
        raise ValueError(f"LlamaConfig.{name} must be a positive int, got {value!r}")
    if self.d_model % self.num_heads:
      raise ValueError(
        f"LlamaConfig.d_model ({self.d_model}) must be divisible by num_heads ({self.num_heads})"
      )
    if (self.d_model // self.num_heads) % 2:
      raise ValueError(f"LlamaConfig head dim {self.d_model // self.num_heads} must be even (RoPE)")
    if self.dtype not in _DTYPES:
      raise ValueError(f"LlamaConfig.dtype must be one of {sorted(_DTYPES)}, got {self.dtype!r}")

  @property
  def head_dim(self) -> int:
    return self.d_model // self.num_heads

  @property
  def compute_dtype(self):
    return _DTYPES[self.dtype]

  def num_params(self) -> int:
    """Closed-form parameter count: embedding + head + blocks + final norm."""
    d, f = self.d_model, self.ffn_dim
    block = 4 * d * d + 3 * d * f + 2 * d
    return 2 * self.vocab_size * d + self.num_layers * block + d


# The Fira/GaLore paper's sizes (T5 tokenizer, vocabulary 32000, sequence length 256).
CONFIGS: dict[str, LlamaConfig] = {
  "llama_60m": LlamaConfig(d_model=512, ffn_dim=1376, num_heads=8, num_layers=8),
  "llama_130m": LlamaConfig(d_model=768, ffn_dim=2048, num_heads=12, num_layers=12),
  "llama_350m": LlamaConfig(d_model=1024, ffn_dim=2736, num_heads=16, num_layers=24),
  "llama_1b": LlamaConfig(d_model=2048, ffn_dim=5461, num_heads=32, num_layers=24),
  "llama_7b": LlamaConfig(d_model=4096, ffn_dim=11008, num_heads=32, num_layers=32),
  # Small configs for one CPU; the vocabulary is replaced by the tokenizer's at train time.
  "llama_mini": LlamaConfig(
    vocab_size=4096, d_model=256, ffn_dim=688, num_heads=4, num_layers=4, max_seq_len=256
  ),
  "llama_small": LlamaConfig(
    vocab_size=4096, d_model=320, ffn_dim=864, num_heads=5, num_layers=6, max_seq_len=256
  ),  # 10.1M parameters with a 4096-token vocabulary
  "llama_tiny": LlamaConfig(
    vocab_size=4096, d_model=128, ffn_dim=344, num_heads=4, num_layers=4, max_seq_len=256
  ),
  "smoke": LlamaConfig(
    vocab_size=256, d_model=32, ffn_dim=64, num_heads=2, num_layers=2, max_seq_len=64
  ),
}

# Paper recipes (official scripts): rank, alpha and steps per size; lr 0.01, gap 200.
PAPER_RANKS: dict[str, int] = {
  "llama_60m": 128,
  "llama_130m": 256,
  "llama_350m": 256,
  "llama_1b": 512,
  "llama_7b": 64,
  "llama_mini": 64,
  "llama_small": 80,
  "llama_tiny": 32,
  "smoke": 8,
}


def get_config(name: str, **overrides) -> LlamaConfig:
  """Returns the named config, with ``overrides`` applied (e.g. ``vocab_size=...``).

  Raises:
    ValueError: if ``name`` is unknown.
  """
  if name not in CONFIGS:
    raise ValueError(f"unknown model {name!r}; expected one of {', '.join(CONFIGS)}")
  return dataclasses.replace(CONFIGS[name], **overrides)
