"""Shared tiny OTGNet settings: one config and one data shape, so jitted steps compile once."""

import pytest

from graphs.otgnet import OTGNetConfig, make_synth, split_tasks

TINY = OTGNetConfig(batch_size=64, memory_dim=8, hidden_dim=8, triads_per_class=2, ib_store=64)


def make_small(seed: int = 0):
  """Two tasks of two classes, 16 nodes per class, 8 features."""
  return make_synth(seed, n_per_class=16, m=4, n_task=2, num_features=8)


@pytest.fixture(scope="session")
def tiny_cfg() -> OTGNetConfig:
  return TINY


@pytest.fixture(scope="session")
def small():
  data = make_small()
  return data, split_tasks(data)
