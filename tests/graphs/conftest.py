"""Fixtures for the graph tests: the real Planetoid data and a tiny synthetic graph."""

import jax.numpy as jnp
import jraph
import numpy as np
import pytest

from graphs import NodeData, load_planetoid


@pytest.fixture(scope="session")
def planetoid_dir(dataset_dir):
  return dataset_dir("planetoid")


@pytest.fixture(scope="session")
def cora(planetoid_dir) -> NodeData:
  return load_planetoid("cora", planetoid_dir)


def make_tiny(n: int = 30, c: int = 3, f: int = 6, seed: int = 0, isolated: int = 1) -> NodeData:
  """A small homophilous random graph; the last ``isolated`` nodes have no neighbours."""
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, c, n)
  feats = rng.normal(size=(n, f)) + 2.0 * np.eye(c, f)[labels]
  pairs = set()
  active = n - isolated
  while len(pairs) < 3 * active:
    i, j = rng.integers(0, active, 2)
    if i != j and (labels[i] == labels[j] or rng.random() < 0.2):
      pairs.add((min(i, j), max(i, j)))
  src = [a for a, b in pairs] + [b for a, b in pairs] + list(range(n))
  dst = [b for a, b in pairs] + [a for a, b in pairs] + list(range(n))
  graph = jraph.GraphsTuple(
    nodes=jnp.asarray(feats, jnp.float32),
    edges=jnp.ones(len(src), jnp.float32),
    senders=jnp.asarray(src, jnp.int32),
    receivers=jnp.asarray(dst, jnp.int32),
    n_node=jnp.asarray([n]),
    n_edge=jnp.asarray([len(src)]),
    globals=None,
  )
  split = rng.permutation(n)
  masks = [np.zeros(n, np.float32) for _ in range(3)]
  for m, idx in zip(masks, np.split(split, [n // 3, 2 * n // 3]), strict=True):
    m[idx] = 1.0
  return NodeData(graph, jnp.asarray(labels, jnp.int32), *map(jnp.asarray, masks), c)


@pytest.fixture
def tiny() -> NodeData:
  return make_tiny()


@pytest.fixture
def tiny_graph():
  """The :func:`make_tiny` builder, for tests that need other sizes."""
  return make_tiny
