import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from graphs import Policy, neighbourhood_rewards, node_state, reinforce_loss, structure_state


def _neighbours(g, i):
  s, r = np.asarray(g.senders), np.asarray(g.receivers)
  return s[(r == i) & (s != i)]


def test_node_state_columns(tiny):
  n = tiny.graph.nodes.shape[0]
  rng = np.random.default_rng(0)
  p = rng.dirichlet(np.ones(3), size=(2, n))
  losses = rng.random((2, n)) * np.asarray(tiny.train_mask)
  st = np.asarray(node_state(jnp.asarray(p), jnp.asarray(losses), tiny.train_mask, tiny.graph))
  assert st.shape == (n, 3 * 2 + 3)
  np.testing.assert_allclose(st[:, :2], losses.T, rtol=1e-5)
  np.testing.assert_allclose(st[:, 2], -(p[0] * np.log(p[0])).sum(-1), rtol=1e-4)
  np.testing.assert_allclose(st[:, 4:6], p.max(-1).T, rtol=1e-5)
  np.testing.assert_allclose(st[:, 7], (p[0] * np.log(p[0] / p[1])).sum(-1), rtol=1e-4)
  deg = [len(_neighbours(tiny.graph, i)) for i in range(n)]
  np.testing.assert_allclose(st[:, 8], np.log1p(deg), rtol=1e-5)


def test_structure_state_means(tiny):
  g, n = tiny.graph, tiny.graph.nodes.shape[0]
  s1 = np.random.default_rng(1).normal(size=(n, 4))
  a = np.random.default_rng(2).integers(0, 2, n)
  out = np.asarray(structure_state(jnp.asarray(s1), jnp.asarray(a), g))
  assert out.shape == (n, 13)
  for i in range(n):
    nb = _neighbours(g, i)
    same, diff = nb[a[nb] == a[i]], nb[a[nb] != a[i]]
    np.testing.assert_allclose(out[i, 4:8], s1[same].mean(0) if len(same) else 0, atol=1e-5)
    np.testing.assert_allclose(out[i, 8:12], s1[diff].mean(0) if len(diff) else 0, atol=1e-5)
    np.testing.assert_allclose(out[i, 12], len(same) / max(len(nb), 1), atol=1e-6)


def test_rewards_one_hop_match_reference(tiny):
  g, n = tiny.graph, tiny.graph.nodes.shape[0]
  losses = np.random.default_rng(3).random(n)
  m = np.asarray(tiny.train_mask)
  r, mask = (np.asarray(x) for x in neighbourhood_rewards(jnp.asarray(losses), tiny.train_mask, g))
  for i in range(n):
    reach = [j for j in [i, *_neighbours(g, i)] if m[j] > 0]
    assert mask[i] == (len(reach) > 0)
    if reach:
      np.testing.assert_allclose(r[i], -losses[reach].mean(), rtol=1e-5)
  r2, mask2 = neighbourhood_rewards(jnp.asarray(losses), tiny.train_mask, g, hops=2)
  assert np.all(np.asarray(mask2) >= mask)
  with pytest.raises(ValueError, match="hops must be 1 or 2"):
    neighbourhood_rewards(jnp.asarray(losses), tiny.train_mask, g, hops=3)


def test_reinforce_moves_towards_rewarded_action():
  """With a state-independent reward for action 1, the policy learns to pick action 1."""
  states = jax.random.normal(jax.random.key(0), (256, 5))
  policy = Policy(5, 2, width=16, rngs=nnx.Rngs(0))
  graphdef, params = nnx.split(policy, nnx.Param)
  tx = optax.adam(1e-2)
  opt = tx.init(params)

  @jax.jit
  def step(params, opt, key):
    logits = nnx.merge(graphdef, params)(states)
    a = jax.random.categorical(key, logits)
    r = a.astype(jnp.float32)  # action 1 is rewarded
    grads = jax.grad(
      lambda p: reinforce_loss(nnx.merge(graphdef, p)(states), a, r - r.mean(), jnp.ones(256))
    )(params)
    updates, opt = tx.update(grads, opt, params)
    return optax.apply_updates(params, updates), opt

  for i in range(60):
    params, opt = step(params, opt, jax.random.key(i))
  probs = jax.nn.softmax(nnx.merge(graphdef, params)(states), -1)
  assert float(probs[:, 1].mean()) > 0.9


def test_reinforce_loss_value():
  logits = jnp.log(jnp.asarray([[0.25, 0.75], [0.5, 0.5]]))
  a = jnp.asarray([1, 0])
  adv = jnp.asarray([2.0, -1.0])
  mask = jnp.asarray([1.0, 1.0])
  ref = -(2.0 * np.log(0.75) - 1.0 * np.log(0.5)) / 2
  np.testing.assert_allclose(reinforce_loss(logits, a, adv, mask), ref, rtol=1e-6)
  ent = -(0.25 * np.log(0.25) + 0.75 * np.log(0.75) + np.log(0.5)) / 2
  np.testing.assert_allclose(
    reinforce_loss(logits, a, adv, mask, entropy_bonus=0.1), ref - 0.1 * ent, rtol=1e-5
  )
