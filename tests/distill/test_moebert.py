"""MoEBERT's objective against float64 NumPy."""

import numpy as np
import pytest

import distill
from tests.distill.reference import ce64, log_softmax64

RNG = np.random.default_rng(0)
B, L, C = 3, 4, 5


def test_moebert_loss_matches_numpy():
  zs, zt = RNG.normal(size=(2, B, C))
  y = RNG.integers(0, C, B)
  hs = [RNG.normal(size=(B, L, 4)) for _ in range(3)]
  ht = [RNG.normal(size=(B, L, 4)) for _ in range(3)]
  out = distill.moebert_loss(zs, zt, y, hs, ht, lam=5.0)
  lp, lq = log_softmax64(zt), log_softmax64(zs)
  sym = 0.5 * ((np.exp(lp) - np.exp(lq)) * (lp - lq)).sum(-1)
  mse = sum(((a - b) ** 2).mean((1, 2)) for a, b in zip(hs, ht, strict=True))
  np.testing.assert_allclose(out, ce64(zs, y) + 5.0 * (mse + sym), rtol=1e-4)


def test_moebert_bad_inputs():
  h = [np.zeros((B, 4))]
  with pytest.raises(ValueError, match="same number|as many layers"):
    distill.moebert_loss(np.zeros((B, C)), np.zeros((B, C)), np.zeros(B, int), h, h + h)
