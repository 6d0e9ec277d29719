"""Annealing-KD: the temperature schedule, the loss, the phase switch under jit."""

import jax
import numpy as np
import pytest

import distill
from tests.distill.reference import log_softmax64

RNG = np.random.default_rng(0)
ZS, ZT = RNG.normal(size=(2, 4, 6))
Y = RNG.integers(0, 6, 4)


def test_annealing_temperature_rises_from_one_to_tau_max():
  ts = np.asarray(
    [distill.annealing_temperature(s, phase1_steps=100, tau_max=10) for s in range(0, 140)]
  )
  assert ts[0] == 1 and ts[-1] == 10 and ts[99] == 10 and ts[9] == 1 and ts[10] == 2
  assert np.all(np.diff(ts) >= 0)


def test_annealing_objective_switches_phase_under_jit():
  f = jax.jit(lambda s: distill.annealing_kd_objective(ZS, ZT, Y, s, phase1_steps=50, tau_max=10))
  t = 1 + np.floor(20 * 10 / 50)
  np.testing.assert_allclose(f(20), ((ZS - ZT * t / 10) ** 2).mean(-1), rtol=1e-5)
  ce = -log_softmax64(ZS)[np.arange(4), Y]
  np.testing.assert_allclose(f(60), ce, rtol=1e-5)
  assert f._cache_size() == 1  # the phase switch is traced, not a recompilation


def test_annealing_bad_inputs():
  with pytest.raises(ValueError, match="phase1_steps must be > 0"):
    distill.annealing_temperature(0, phase1_steps=0)
  with pytest.raises(ValueError, match="temperature must be > 0"):
    distill.annealing_kd_loss(ZS, ZT, temperature=0.0)
