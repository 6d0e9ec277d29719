"""Parameter shapes of the paper's LLaMA configurations, without building a model.

Used to size optimizer states (:func:`fira_jax.optimizer_state_bytes`) for models far larger
than the machine at hand.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from optax.contrib import GaLoreDimensionNumbers

# name: (hidden d, ffn, heads, layers); the paper's Table of configurations, vocab 32000.
PAPER_LLAMA = {
  "llama_60m": (512, 1376, 8, 8),
  "llama_130m": (768, 2048, 12, 12),
  "llama_350m": (1024, 2736, 16, 24),
  "llama_1b": (2048, 5461, 32, 24),
  "llama_7b": (4096, 11008, 32, 32),
}
# The official recipes' ranks.
PAPER_RANK = {
  "llama_60m": 128,
  "llama_130m": 256,
  "llama_350m": 256,
  "llama_1b": 512,
  "llama_7b": 64,
}

PROJECTED = ("q", "k", "v", "o", "gate", "up", "down")


def llama_param_shapes(
  name: str, *, vocab_size: int = 32000, dtype: Any = jnp.float32
) -> dict[str, Any]:
  """``jax.ShapeDtypeStruct`` tree of a LLaMA decoder in Flax ``(in, out)`` kernel layout.

  Args:
    name: one of ``PAPER_LLAMA``.
    vocab_size: vocabulary size.
    dtype: parameter dtype.

  Returns:
    ``{"embed": (V, d), "layers": [{"q", "k", "v", "o": (d, d), "gate", "up": (d, f),
    "down": (f, d), "attn_norm", "mlp_norm": (d,)}, ...], "final_norm": (d,),
    "lm_head": (d, V)}``.
  """
  if name not in PAPER_LLAMA:
    raise ValueError(f"unknown LLaMA config {name!r}; expected one of {sorted(PAPER_LLAMA)}")
  d, f, _, n_layers = PAPER_LLAMA[name]
  s = lambda *shape: jax.ShapeDtypeStruct(shape, dtype)  # noqa: E731
  layer = {
    **{k: s(d, d) for k in ("q", "k", "v", "o")},
    "gate": s(d, f),
    "up": s(d, f),
    "down": s(f, d),
    "attn_norm": s(d),
    "mlp_norm": s(d),
  }
  return {
    "embed": s(vocab_size, d),
    "layers": [dict(layer) for _ in range(n_layers)],
    "final_norm": s(d),
    "lm_head": s(d, vocab_size),
  }


def llama_dimension_numbers(params: dict[str, Any]) -> dict[str, Any]:
  """Projects the attention and MLP kernels (as the paper), nothing else."""
  return {
    "embed": None,
    "layers": [
      {k: (GaLoreDimensionNumbers() if k in PROJECTED else None) for k in layer}
      for layer in params["layers"]
    ],
    "final_norm": None,
    "lm_head": None,
  }
