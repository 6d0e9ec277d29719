"""KPOD's weighted token loss."""

import jax
import numpy as np
import pytest

from distill import kpod


def test_weighted_token_loss_matches_numpy_and_masks():
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(3, 5, 7)).astype(np.float32)
  targets = rng.integers(0, 7, (3, 5))
  w = rng.random((3, 5)).astype(np.float32)
  where = rng.random((3, 5)) > 0.3
  z = logits.astype(np.float64)
  logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
  nll = -np.take_along_axis(logp, targets[..., None], -1)[..., 0]
  out = kpod.weighted_token_loss(logits, targets, w, where=where)
  np.testing.assert_allclose(out, (w * nll * where).sum(-1), rtol=1e-5)
  logits2 = np.where(where[..., None], logits, logits + rng.normal(size=logits.shape) * 5)
  np.testing.assert_allclose(
    kpod.weighted_token_loss(logits2, targets, w, where=where), out, rtol=1e-5
  )
  g = jax.grad(lambda x: kpod.weighted_token_loss(x, targets, w, where=where).sum())(logits)
  assert np.all(np.isfinite(g)) and np.all(np.asarray(g)[~where] == 0)


def test_weighted_token_loss_bad_shapes():
  with pytest.raises(ValueError, match="weights must have shape"):
    kpod.weighted_token_loss(np.zeros((2, 3, 4)), np.zeros((2, 3), int), np.ones((2, 4)))
  with pytest.raises(ValueError, match="logits must have 3 dimensions"):
    kpod.weighted_token_loss(np.zeros((2, 3)), np.zeros((2, 3), int), np.ones((2, 3)))
