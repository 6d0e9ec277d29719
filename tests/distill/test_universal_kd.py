"""Universal-KD against float64 NumPy."""

import numpy as np
import pytest

import distill
from tests.distill.reference import log_softmax64

RNG = np.random.default_rng(0)
B, L, C = 3, 4, 5


def test_universal_kd_matches_numpy():
  zs = [RNG.normal(size=(B, C)) for _ in range(2)]
  zt = [RNG.normal(size=(B, C)) for _ in range(3)]
  hs = [RNG.normal(size=(B, 8)) for _ in range(2)]
  ht = [RNG.normal(size=(B, 8)) for _ in range(3)]
  t = 2.0
  out = distill.universal_kd_loss(zs, zt, hs, ht, temperature=t)
  ref = np.zeros(B)
  pt = np.stack([np.exp(log_softmax64(z / t)) for z in zt], 1)  # (B, Kt, C)
  for i in range(2):
    s = np.stack([(hs[i] * h).sum(-1) for h in ht], 1) / np.sqrt(8)
    a = np.exp(s - s.max(1, keepdims=True))
    a /= a.sum(1, keepdims=True)
    mix = (a[..., None] * pt).sum(1)
    ref += t**2 * (mix * (np.log(mix) - log_softmax64(zs[i] / t))).sum(-1) / 2
  np.testing.assert_allclose(out, ref, rtol=1e-4)


def test_universal_kd_bad_inputs():
  h = [np.zeros((B, 4))]
  with pytest.raises(ValueError, match="temperature must be > 0"):
    distill.universal_kd_loss([np.zeros((B, C))], [np.zeros((B, C))], h, h, temperature=0.0)
  with pytest.raises(ValueError, match="share a width"):
    distill.universal_kd_loss([np.zeros((B, C))], [np.zeros((B, C))], h, [np.zeros((B, 3))])
