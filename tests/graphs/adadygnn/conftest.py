"""Fixtures for the Ada-DyGNN tests: the real CollegeMsg file and small synthetic streams."""

import pathlib

import numpy as np
import pytest

from graphs.adadygnn import make_temporal_data


@pytest.fixture(scope="session")
def uci_dir(dataset_dir) -> pathlib.Path:
  """The folder holding ``CollegeMsg.txt`` (``dataset_dir`` of the root conftest: the data
  folder, ``../shared/data`` or the download cache)."""
  return dataset_dir("uci_msg")


def community_stream(n_nodes=24, n_edges=900, groups=3, seed=0, name="tiny"):
  """Interactions mostly inside ``groups`` communities (so links are predictable)."""
  rng = np.random.default_rng(seed)
  group = np.arange(1, n_nodes + 1) % groups
  src = rng.integers(1, n_nodes + 1, n_edges)
  same = rng.random(n_edges) < 0.9
  dst = np.empty_like(src)
  for e in range(n_edges):
    pool = np.flatnonzero((group == group[src[e] - 1]) == same[e]) + 1
    pool = pool[pool != src[e]]
    dst[e] = rng.choice(pool)
  t = np.sort(rng.uniform(0, 1000, n_edges))
  return make_temporal_data(src, dst, t, name=name)


@pytest.fixture(scope="session")
def tiny_data():
  return community_stream()


def write_official(folder, data, name="tiny"):
  """Writes ``data`` as ml_<name>.csv + ml_<name>.npy (the TGN/JODIE format)."""
  s = data.stream
  table = np.column_stack([np.arange(len(s)), s.src, s.dst, s.t, np.zeros(len(s)), s.idx])
  np.savetxt(
    folder / f"ml_{name}.csv",
    table,
    fmt="%.17g",
    delimiter=",",
    header=",u,i,ts,label,idx",
    comments="",
  )
  ef = np.random.default_rng(0).normal(size=(len(s) + 1, 3)).astype(np.float32)
  ef[0] = 0
  np.save(folder / f"ml_{name}.npy", ef)
  return ef


@pytest.fixture(name="write_official")
def write_official_fixture():
  """:func:`write_official`: ``write_official(folder, data, name)`` writes the official files."""
  return write_official
