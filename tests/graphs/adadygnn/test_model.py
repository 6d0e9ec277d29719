import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import graphs.adadygnn as ada


def _sigmoid(x):
  return 1 / (1 + np.exp(-x))


@pytest.mark.parametrize("entropy", ["official", "bernoulli"])
def test_reinforce_gradient_matches_float64(entropy):
  """With fixed actions and advantage, the policy gradient equals a float64 hand derivation."""
  b, k, d, lam, adv = 3, 4, 5, 0.1, 0.37
  rng = np.random.default_rng(0)
  policy = ada.Policy(2 * d, d, rngs=nnx.Rngs(1))
  state = rng.normal(size=(b, k, 2 * d))
  actions = rng.integers(0, 2, (b, k)).astype(np.float64)
  valid = np.ones((b, k))
  valid[0, :2] = 0  # padded slots do not count

  def loss(p):
    logits = p(jnp.asarray(state, jnp.float32))
    return ada.policy_loss(logits, jnp.asarray(actions), adv, jnp.asarray(valid), lam, entropy)

  grads = nnx.grad(loss)(policy)
  w1 = np.asarray(policy.w1.kernel[...], np.float64)  # [2d, d]
  w2 = np.asarray(policy.w2.kernel[...], np.float64)  # [d, 1]
  z = state @ w1
  logit = (np.maximum(z, 0) @ w2)[..., 0]
  pi = _sigmoid(logit)
  # L = sum v [-A (a log pi + (1-a) log(1-pi)) - lam H] / (b k); dlogP/dlogit = a - pi
  if entropy == "official":  # H = -pi log pi
    dh = -(np.log(pi) + 1) * pi * (1 - pi)
  else:  # H = -pi log pi - (1-pi) log(1-pi)
    dh = -pi * (1 - pi) * logit
  dl = valid * (-adv * (actions - pi) - lam * dh) / (b * k)  # [b, k]
  g_w2 = np.einsum("bkh,bk->h", np.maximum(z, 0), dl)[:, None]
  g_z = dl[..., None] * w2[:, 0] * (z > 0)
  g_w1 = np.einsum("bks,bkh->sh", state, g_z)
  np.testing.assert_allclose(np.asarray(grads.w2.kernel[...]), g_w2, rtol=2e-4, atol=1e-7)
  np.testing.assert_allclose(np.asarray(grads.w1.kernel[...]), g_w1, rtol=2e-4, atol=1e-7)


def test_learned_policy_skips_the_noise_neighbour():
  """Controlled case: updating neighbours 0..k-2 aligns them with their centre, updating the
  last one (whose state is pure noise) turns it against its centre; self-critical REINFORCE
  on the stability reward learns to update the first and skip the last."""
  b, k, d = 2, 4, 8
  cfg = ada.AdaDyGNNConfig(policy="learned", memory_dim=d)
  rng = np.random.default_rng(0)
  policy = ada.Policy(2 * d, d, rngs=nnx.Rngs(0))
  opt = nnx.Optimizer(policy, optax.adam(1e-2), wrt=nnx.Param)
  mean = rng.normal(size=2 * d)
  valid = jnp.ones((b, k))

  def draw(r):
    centre = r.normal(size=(b, d))
    centre /= np.linalg.norm(centre, axis=1, keepdims=True)
    old = r.normal(size=(b, k, d))
    upd = np.repeat(centre[:, None], k, 1)
    upd[:, -1] = -centre
    state = mean + 0.3 * r.normal(size=(b, k, 2 * d))
    state[:, -1] = 2.0 * r.normal(size=(b, 2 * d))
    return [jnp.asarray(x, jnp.float32) for x in (state, old, upd, centre)]

  @nnx.jit
  def step(policy, opt, state, old, upd, centre, key):
    def loss(p):
      return ada.reinforce_side(p, state, old, upd, centre, valid, key, cfg, True).loss

    opt.update(policy, nnx.grad(loss)(policy))

  for i in range(400):
    step(policy, opt, *draw(rng), jax.random.key(i))
  state = draw(np.random.default_rng(123))[0]
  pi = np.asarray(jax.nn.sigmoid(policy(state)))
  assert pi[:, :-1].min() > 0.5 > pi[:, -1].max()  # greedy: update clean, skip noise
  # in evaluation the actions are the greedy ones
  out = ada.reinforce_side(policy, state, *draw(np.random.default_rng(123))[1:], valid,
                           jax.random.key(0), cfg, False)  # fmt: skip
  assert float(out.stats["update"]) == pytest.approx(0.75)


def _tiny_batch(n_rows=12, b=3, k=4, d=8, seed=0):
  rng = np.random.default_rng(seed)
  nbr = rng.integers(1, n_rows, (2, b, k)).astype(np.int32)
  nmask = np.ones((2, b, k), np.float32)
  nmask[:, 0, :2] = 0
  nbr[:, 0, :2] = 0
  batch = ada.Batch(
    src=jnp.array([1, 2, 3], jnp.int32)[:b], dst=jnp.array([4, 5, 1], jnp.int32)[:b],
    neg=jnp.array([6, 7, 8], jnp.int32)[:b], mask=jnp.ones(b), feat=jnp.zeros((b, 1)),
    nbr=jnp.asarray(nbr), phi=jnp.full((2, b, k), 0.5), nmask=jnp.asarray(nmask),
    noise=jnp.zeros((2, b, k)),
  )  # fmt: skip
  memory = jnp.asarray(rng.normal(size=(n_rows, d)), jnp.float32)
  return batch, memory


@pytest.mark.parametrize("policy", ["none", "all", "learned", "random"])
def test_policies_share_one_forward(policy):
  cfg = ada.AdaDyGNNConfig(policy=policy, memory_dim=8, message_dim=4, num_neighbors=4)
  model = ada.AdaDyGNN(cfg, 1, rngs=nnx.Rngs(0))
  batch, memory = _tiny_batch()
  new, pos, neg, pol, stats = ada.forward(model, memory, batch, jax.random.key(0), cfg, True)
  centres = np.unique(np.r_[batch.src, batch.dst])
  nbrs = np.setdiff1d(np.unique(np.asarray(batch.nbr)[np.asarray(batch.nmask) > 0]), centres)
  changed = np.any(np.asarray(new) != np.asarray(memory), axis=1)
  assert changed[centres].all() and not changed[0]  # padding row untouched
  untouched = np.setdiff1d(np.arange(len(memory)), np.r_[centres, nbrs])
  assert not changed[untouched].any()
  if policy == "none":
    assert not changed[nbrs].any() and float(stats["update_u"]) == 0
  if policy == "all":
    assert changed[nbrs].all() and float(stats["update_u"]) == 1
  assert pos.shape == neg.shape == (3,)
  assert (float(pol) != 0) == (policy == "learned")  # only the learned policy has a loss


def test_greedy_eval_is_deterministic():
  cfg = ada.AdaDyGNNConfig(memory_dim=8, message_dim=4, num_neighbors=4)
  model = ada.AdaDyGNN(cfg, 1, rngs=nnx.Rngs(0))
  batch, memory = _tiny_batch()
  a = ada.forward(model, memory, batch, jax.random.key(0), cfg, False)[0]
  b = ada.forward(model, memory, batch, jax.random.key(1), cfg, False)[0]
  np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_short_run_lowers_link_loss(uci_dir):
  """Three epochs on the first 3,000 UCI messages lower the link loss and learn something."""
  full = ada.load_college_msg(uci_dir).stream
  n = 3000
  split = ada.chronological_split(ada.make_temporal_data(full.src[:n], full.dst[:n], full.t[:n]))
  cfg = ada.AdaDyGNNConfig(learning_rate=1e-3, num_neighbors=5, memory_dim=16, message_dim=8)
  res = ada.train_adadygnn(split, cfg, seed=0, epochs=3)
  losses = [e["link_loss"] for e in res["epochs"]]
  assert losses[-1] < 0.93 * losses[0]
  for name in ada.EVAL_SETS:
    assert 0 <= res[name]["mrr"] <= 1 and 0 <= res[name]["auc"] <= 1
    assert res[name]["mrr_exclude_self"] >= res[name]["mrr"]
  assert res["test"]["auc"] > 0.6
  assert res["split_sizes"] == split.split_sizes()
  stats = res["epochs"][-1]
  assert 0 < stats["update_u"] < 1 and stats["noise_slots"] == 0


def test_config_rejects_bad_values():
  with pytest.raises(ValueError, match="policy must be one of"):
    ada.AdaDyGNNConfig(policy="some")
  with pytest.raises(ValueError, match="reward must be one of"):
    ada.AdaDyGNNConfig(reward="per_node")
  with pytest.raises(ValueError, match="dropout"):
    ada.AdaDyGNNConfig(dropout=1.0)
  with pytest.raises(ValueError, match="epochs"):
    ada.train_adadygnn(None, ada.AdaDyGNNConfig(), epochs=0)


def test_official_switches_give_finite_gradients():
  """The official code's variants: batch-matrix reward, dst-side policy loss only, padding row
  as an ordinary node, and the full Bernoulli entropy."""
  kw = dict(memory_dim=8, message_dim=4, num_neighbors=4)
  batch, memory = _tiny_batch()
  losses = {}
  for name, cfg in {
    "default": ada.AdaDyGNNConfig(**kw),
    "official": ada.AdaDyGNNConfig(reward="official", policy_sides="dst_only",
                                   mask_padding=False, entropy="bernoulli", **kw),
  }.items():  # fmt: skip
    model = ada.AdaDyGNN(cfg, 1, rngs=nnx.Rngs(0))

    def loss(m, cfg=cfg):
      new, pos, neg, pol, _ = ada.forward(m, memory, batch, jax.random.key(0), cfg, True)
      return ada.link_loss(pos, neg, batch.mask) + pol, new

    (value, new), grads = nnx.value_and_grad(loss, has_aux=True)(model)
    leaves = jax.tree.leaves(grads)
    assert np.isfinite(float(value)) and all(np.isfinite(np.asarray(g)).all() for g in leaves)
    assert np.abs(np.asarray(grads.policy.w1.kernel[...])).sum() > 0
    losses[name] = float(value)
    if name == "default":  # the padding row is never written
      np.testing.assert_array_equal(np.asarray(new)[0], np.asarray(memory)[0])
  assert losses["default"] != losses["official"]
