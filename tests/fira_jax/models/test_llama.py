"""The LLaMA decoder against float64 NumPy recomputations and its invariants."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from fira_jax.models import Llama, RMSNorm, apply_rotary, get_config, rotary_tables


def test_rmsnorm_matches_numpy():
  x = np.random.default_rng(0).normal(size=(2, 3, 8))
  norm = RMSNorm(8, eps=1e-6)
  norm.scale[...] = jnp.arange(1.0, 9.0)
  want = x / np.sqrt(np.mean(x**2, -1, keepdims=True) + 1e-6) * np.arange(1.0, 9.0)
  np.testing.assert_allclose(norm(jnp.asarray(x, jnp.float32)), want, rtol=1e-5, atol=1e-6)


def test_rotary_matches_numpy_and_preserves_norm():
  t, h = 5, 8
  x = np.random.default_rng(1).normal(size=(1, t, 2, h))
  cos, sin = rotary_tables(t, h, 10000.0)
  got = np.asarray(apply_rotary(jnp.asarray(x, jnp.float32), cos, sin))
  inv = 1.0 / 10000.0 ** (np.arange(0, h, 2) / h)
  ang = np.arange(t)[:, None] * inv[None]
  c, s = np.cos(ang)[None, :, None], np.sin(ang)[None, :, None]
  x1, x2 = x[..., : h // 2], x[..., h // 2 :]
  want = np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], -1)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(np.linalg.norm(got, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-5)


def test_forward_shape_dtype_and_causality():
  config = get_config("smoke")
  model = Llama(config, rngs=nnx.Rngs(0))
  tokens = jax.random.randint(jax.random.key(0), (2, 12), 0, config.vocab_size)
  logits = model(tokens)
  assert logits.shape == (2, 12, config.vocab_size) and logits.dtype == jnp.float32
  changed = tokens.at[:, 8:].set((tokens[:, 8:] + 1) % config.vocab_size)
  logits2 = model(changed)
  np.testing.assert_allclose(logits[:, :8], logits2[:, :8], atol=1e-6)
  assert not np.allclose(logits[:, 8:], logits2[:, 8:])


def test_no_biases_and_untied_head():
  model = Llama(get_config("smoke"), rngs=nnx.Rngs(0))
  paths = [".".join(map(str, p)) for p, _ in nnx.to_flat_state(nnx.state(model, nnx.Param))]
  assert not any("bias" in p for p in paths)
  assert "lm_head.kernel" in paths and "embed.embedding" in paths


def test_bf16_compute_keeps_float32_params_and_is_close():
  m32 = Llama(get_config("smoke"), rngs=nnx.Rngs(0))
  m16 = Llama(get_config("smoke", dtype="bfloat16"), rngs=nnx.Rngs(0))
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(nnx.state(m16, nnx.Param)))
  tokens = jnp.arange(16)[None] % 256
  np.testing.assert_allclose(m16(tokens), m32(tokens), atol=5e-2)


def test_too_long_sequence_is_rejected():
  model = Llama(get_config("smoke"), rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="exceeds max_seq_len 64"):
    model(jnp.zeros((1, 65), jnp.int32))
