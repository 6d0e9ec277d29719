"""Continuation-KD: the interpolation between smoothed and full KD."""

import numpy as np
import pytest

import distill
from tests.distill.reference import kd64

RNG = np.random.default_rng(0)
ZS, ZT = RNG.normal(size=(2, 4, 6))


def test_continuation_kd_interpolates():
  for lam in [0.0, 0.3, 1.0]:
    ref = (1 - lam) * kd64(ZS, ZT, 4.0) + lam * kd64(ZS, ZT, 1.0)
    np.testing.assert_allclose(distill.continuation_kd_loss(ZS, ZT, lam), ref, rtol=1e-4)
  with pytest.raises(ValueError, match=r"lam must lie in \[0, 1\]"):
    distill.continuation_kd_loss(ZS, ZT, 1.5)
