"""Parameter shapes of the LLaMA configurations, without building a model.

Used to size optimizer states (:func:`fira_jax.optimizer_state_bytes`) and to time optimizer
steps for models far larger than the machine at hand. The shapes are those of
:class:`fira_jax.models.Llama` (traced with ``nnx.eval_shape``, nothing allocated), as the flat
``{name: array}`` dict the training loop hands to its optimizer, so that
:func:`fira_jax.train.projected_dimension_numbers` chooses the projected leaves as in training.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from fira_jax.models import CONFIGS, Llama, LlamaConfig
from fira_jax.train import FlatModel

__all__ = ["PAPER_MODELS", "llama_param_shapes"]

# The Fira/GaLore paper's sizes in :data:`fira_jax.models.CONFIGS` (vocabulary 32000); their
# ranks are :data:`fira_jax.models.PAPER_RANKS`.
PAPER_MODELS = ("llama_60m", "llama_130m", "llama_350m", "llama_1b", "llama_7b")


def llama_param_shapes(
  model: str | LlamaConfig, *, vocab_size: int | None = None, dtype: Any = jnp.float32
) -> dict[str, jax.ShapeDtypeStruct]:
  """Flat ``{name: jax.ShapeDtypeStruct}`` parameters of a LLaMA decoder.

  Args:
    model: a name of :data:`fira_jax.models.CONFIGS`, or a config.
    vocab_size: replaces the config's vocabulary size V.
    dtype: parameter dtype.

  Returns:
    ``embed/embedding`` (V, d); per layer ``layers/i/attn/{q,k,v,o}_proj/kernel`` (d, d),
    ``layers/i/mlp/{gate,up}_proj/kernel`` (d, f), ``layers/i/mlp/down_proj/kernel`` (f, d) and
    two RMSNorm scales (d,); the final norm (d,) and ``lm_head/kernel`` (d, V), in Flax
    ``(in, out)`` kernel layout.
  """
  config = CONFIGS[model] if isinstance(model, str) else model
  if vocab_size is not None:
    config = dataclasses.replace(config, vocab_size=vocab_size)
  abstract = nnx.eval_shape(lambda: Llama(config, rngs=nnx.Rngs(0)))
  return {
    name: jax.ShapeDtypeStruct(x.shape, dtype) for name, x in FlatModel(abstract).params.items()
  }
