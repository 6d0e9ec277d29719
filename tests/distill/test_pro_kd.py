"""Pro-KD: the temperature schedule and the stage's KD loss."""

import numpy as np
import pytest

import distill
from tests.distill.reference import kd64

RNG = np.random.default_rng(0)
ZS, ZT = RNG.normal(size=(2, 4, 6))


def test_pro_kd_follows_temperature_schedule():
  temps = [
    float(distill.pro_kd_temperature(k, num_stages=4, t_start=4.0, t_end=1.0)) for k in range(4)
  ]
  np.testing.assert_allclose(temps, [4.0, 3.0, 2.0, 1.0])
  np.testing.assert_allclose(
    distill.pro_kd_loss(ZS, ZT, 1, num_stages=4), kd64(ZS, ZT, 3.0), rtol=1e-4
  )


def test_pro_kd_bad_inputs():
  with pytest.raises(ValueError, match="num_stages must be >= 1"):
    distill.pro_kd_temperature(0, num_stages=0)
