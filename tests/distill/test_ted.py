"""TED's stage-2 objective against float64 NumPy."""

import numpy as np

import distill
from tests.distill.reference import ce64, kl64

RNG = np.random.default_rng(0)
B, L, C = 3, 4, 5


def test_ted_loss_matches_numpy():
  zs, zt = RNG.normal(size=(2, B, C))
  y = RNG.integers(0, C, B)
  fs = [RNG.normal(size=(B, L, 4)) for _ in range(2)]
  ft = [RNG.normal(size=(B, L, 4)) for _ in range(2)]
  out = distill.ted_loss(zs, zt, y, fs, ft, alpha_kl=5.0, alpha_mse=7.0, temperature=2.0)
  mse = sum(((a - b) ** 2).mean((1, 2)) for a, b in zip(fs, ft, strict=True)) / 2
  ref = ce64(zs, y) + 5.0 * 4.0 * kl64(zt / 2, zs / 2) + 7.0 * mse
  np.testing.assert_allclose(out, ref, rtol=1e-4)
