import jax
import jax.numpy as jnp
import numpy as np
import pytest

from graphs import local_structure_log_probs, pairwise_node_kl, pairwise_structure_kl


def _softmax(z):
  e = np.exp(z - z.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("tau", [1.0, 2.0])
def test_node_kl_matches_float64(tau):
  z = np.random.default_rng(0).normal(size=(3, 5, 4))
  out = np.asarray(pairwise_node_kl(jnp.asarray(z, jnp.float32), temperature=tau))
  p = _softmax(z / tau)
  ref = np.zeros((5, 3, 3))
  for s in range(3):
    for r in range(3):
      ref[:, s, r] = tau**2 * (p[s] * (np.log(p[s]) - np.log(p[r]))).sum(-1)
  np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-6)


def _struct_ref(h, senders, receivers, sim):
  n = h.shape[0]
  q = {}
  for i in range(n):
    nbrs = [s for s, r in zip(senders, receivers, strict=True) if r == i and s != i]
    if not nbrs:
      continue
    if sim == "rbf":
      e = np.array([-np.sum((h[i] - h[j]) ** 2) for j in nbrs])
    else:
      e = np.array([h[i] @ h[j] / np.linalg.norm(h[i]) / np.linalg.norm(h[j]) for j in nbrs])
    q[i] = dict(zip(nbrs, np.exp(e - e.max()) / np.exp(e - e.max()).sum(), strict=True))
  return q


@pytest.mark.parametrize("sim", ["rbf", "cosine"])
def test_structure_loss_matches_float64(tiny, sim):
  """The structure-level loss equals a float64 recomputation on a tiny graph."""
  g = tiny.graph
  n = g.nodes.shape[0]
  rng = np.random.default_rng(1)
  h = [rng.normal(size=(n, 5)), rng.normal(size=(n, 5))]
  kl, has_nb = pairwise_structure_kl([jnp.asarray(x, jnp.float32) for x in h], g, similarity=sim)
  s, r = np.asarray(g.senders).tolist(), np.asarray(g.receivers).tolist()
  q = [_struct_ref(x, s, r, sim) for x in h]
  for i in range(n):
    if i not in q[0]:
      assert has_nb[i] == 0 and np.all(np.asarray(kl[i]) == 0)
      continue
    assert has_nb[i] == 1
    for a in range(2):
      for b in range(2):
        ref = sum(q[a][i][j] * (np.log(q[a][i][j]) - np.log(q[b][i][j])) for j in q[a][i])
        np.testing.assert_allclose(kl[i, a, b], ref, rtol=2e-4, atol=1e-6)
  assert has_nb.sum() == n - 1  # the fixture's last node is isolated
  # the receiver's loss must not move the sender: gradient w.r.t. sender embeddings is zero
  hj = [jnp.asarray(x, jnp.float32) for x in h]
  grads = jax.grad(lambda h0, h1: pairwise_structure_kl([h0, h1], g)[0][:, 0, 1].sum(), (0, 1))(*hj)
  assert float(jnp.abs(grads[0]).max()) == 0.0 and float(jnp.abs(grads[1]).max()) > 0.0


def test_structure_rejects_unknown_similarity(tiny):
  with pytest.raises(ValueError, match="similarity must be"):
    local_structure_log_probs(tiny.graph.nodes, tiny.graph, similarity="l1")
