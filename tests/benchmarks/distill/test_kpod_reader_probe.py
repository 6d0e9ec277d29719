"""The reader probe's per-prefix answer losses, against a float64 recomputation."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from distill import kpod

V, R, B = 30, 8, 3


def _batch(rng):
  answer = rng.integers(5, V, (B, 2))
  arrays = (
    rng.integers(5, V, (B, 3)),
    np.ones((B, 3), bool),
    rng.integers(5, V, (B, R)),
    np.arange(R)[None] < np.array([[R], [5], [7]]),
    np.concatenate([np.full((B, 1), 4), answer], 1),
    np.concatenate([answer, np.full((B, 1), 2)], 1),
    np.ones((B, 3), bool),
  )
  return kpod.WeightingBatch(*(jnp.asarray(x) for x in arrays))


def _nll64(predictor, batch, keep, k):
  logits = np.asarray(
    predictor(
      batch.question,
      batch.question_mask,
      batch.rationale,
      keep,
      jnp.full((B,), k),
      batch.answer_in,
    ),
    np.float64,
  )
  shifted = logits - logits.max(-1, keepdims=True)
  logp = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
  picked = np.take_along_axis(logp, np.asarray(batch.answer_out)[..., None], -1)[..., 0]
  return -(picked * np.asarray(batch.answer_mask)).sum(-1)


def test_prefix_losses_match_a_float64_recomputation(load_script):
  probe = load_script("distill/kpod_reader_probe")
  predictor = kpod.AnswerPredictor(V, dim=16, num_layers=1, max_len=24, rngs=nnx.Rngs(0))
  batch = _batch(np.random.default_rng(0))
  keep = jax.random.bernoulli(jax.random.key(1), 0.5, (B, R)).astype(jnp.float32)
  keep = keep * batch.rationale_mask
  got = np.asarray(probe._prefix_losses(predictor, batch, keep))
  assert got.shape == (B, R + 1)
  want = np.stack([_nll64(predictor, batch, keep, k) for k in range(R + 1)], 1)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  # Column k reads only the first k rationale tokens: changing the tokens from position 4 on
  # leaves columns 0..4 as they were, and changes later ones.
  changed = batch._replace(
    rationale=batch.rationale.at[:, 4:].set((batch.rationale[:, 4:] + 1) % V)
  )
  again = np.asarray(probe._prefix_losses(predictor, changed, jnp.ones((B, R))))
  before = np.asarray(probe._prefix_losses(predictor, batch, jnp.ones((B, R))))
  np.testing.assert_allclose(again[:, :5], before[:, :5], rtol=1e-5)
  assert np.abs(again[:, 5:] - before[:, 5:]).max() > 1e-3
