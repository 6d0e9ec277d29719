"""LoRA wrapper: identity at init, exact math, merge/unmerge, only A and B trainable."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from fira_jax.models import (
  FrozenWeight,
  Llama,
  LoRALinear,
  apply_lora,
  get_config,
  merge_lora,
  unmerge_lora,
)


def test_lora_linear_matches_numpy():
  base = nnx.Linear(6, 5, use_bias=False, rngs=nnx.Rngs(0))
  layer = LoRALinear(base, rank=2, alpha=4.0, rngs=nnx.Rngs(1))
  layer.lora_b[...] = jax.random.normal(jax.random.key(2), (2, 5))
  x = np.random.default_rng(0).normal(size=(3, 6))
  w, a, b = (np.asarray(v[...], np.float64) for v in (layer.kernel, layer.lora_a, layer.lora_b))
  want = x @ w + 2.0 * (x @ a) @ b
  np.testing.assert_allclose(layer(jnp.asarray(x, jnp.float32)), want, rtol=1e-5, atol=1e-5)


def test_apply_lora_starts_as_identity_and_trains_only_adapters():
  config = get_config("smoke")
  model = Llama(config, rngs=nnx.Rngs(0))
  tokens = jnp.arange(20)[None] % 256
  before = model(tokens)
  apply_lora(model, rank=4, alpha=8.0, rngs=nnx.Rngs(1))
  np.testing.assert_allclose(model(tokens), before, atol=1e-6)
  flat = {".".join(map(str, p)): v for p, v in nnx.to_flat_state(nnx.state(model, nnx.Param))}
  # Attention/MLP kernels are frozen; only their A, B plus embeddings, norms and head train.
  assert not any(p.endswith("_proj.kernel") for p in flat)
  assert sum(p.endswith(("lora_a", "lora_b")) for p in flat) == 2 * 7 * config.num_layers
  frozen = nnx.state(model, FrozenWeight)
  assert len(jax.tree.leaves(frozen)) == 7 * config.num_layers


def test_merge_unmerge_roundtrip():
  model = apply_lora(Llama(get_config("smoke"), rngs=nnx.Rngs(0)), 4, 8.0, rngs=nnx.Rngs(1))
  layer = model.layers[0].attn.q_proj
  layer.lora_b[...] = 0.1 * jnp.ones_like(layer.lora_b[...])
  kernel0 = np.asarray(layer.kernel[...])
  tokens = jnp.arange(20)[None] % 256
  out = model(tokens)
  merge_lora(model)
  assert layer.merged
  np.testing.assert_allclose(layer.kernel[...], kernel0 + np.asarray(layer.delta()), atol=1e-6)
  np.testing.assert_allclose(model(tokens), out, atol=1e-4)
  unmerge_lora(model)
  np.testing.assert_allclose(layer.kernel[...], kernel0, atol=1e-6)


def test_lora_bad_input():
  with pytest.raises(ValueError, match="LoRA rank must be a positive int"):
    LoRALinear(nnx.Linear(4, 4, use_bias=False, rngs=nnx.Rngs(0)), 0, 1.0, rngs=nnx.Rngs(0))
  with pytest.raises(TypeError, match="expects a fira_jax Llama"):
    apply_lora(nnx.Linear(4, 4, rngs=nnx.Rngs(0)), 2, rngs=nnx.Rngs(0))
