"""LLaMA-style decoder models in Flax NNX, their named configs, and a LoRA wrapper."""

from fira_jax.models.configs import CONFIGS, PAPER_RANKS, LlamaConfig, get_config
from fira_jax.models.llama import (
  Attention,
  Block,
  Llama,
  RMSNorm,
  SwiGLU,
  apply_rotary,
  rotary_tables,
)
from fira_jax.models.lora import FrozenWeight, LoRALinear, apply_lora, merge_lora, unmerge_lora

__all__ = [
  "CONFIGS",
  "PAPER_RANKS",
  "Attention",
  "Block",
  "FrozenWeight",
  "Llama",
  "LlamaConfig",
  "LoRALinear",
  "RMSNorm",
  "SwiGLU",
  "apply_lora",
  "apply_rotary",
  "get_config",
  "merge_lora",
  "rotary_tables",
  "unmerge_lora",
]
