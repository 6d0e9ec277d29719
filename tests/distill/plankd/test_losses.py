"""PlanKD's losses against float64 NumPy recomputations of their equations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from distill import plankd
from tests.distill.reference import log_softmax64

RNG = np.random.default_rng(0)


def _softmax(z):
  z = np.exp(z - z.max(-1, keepdims=True))
  return z / z.sum(-1, keepdims=True)


def _safety64(w, p, m, sigma):
  w, p = np.float64(w), np.float64(p)
  if p.ndim == 3:
    p = p[:, None]
  if m.ndim == 2:
    m = m[:, None]
  out = np.zeros(w.shape[:2])
  for b in range(w.shape[0]):
    for j in range(w.shape[1]):
      for n in range(p.shape[2]):
        d2 = ((w[b, j] - p[b, min(j, p.shape[1] - 1), n]) ** 2).sum()
        out[b, j] += m[b, min(j, m.shape[1] - 1), n] * np.exp(-d2 / (2 * sigma**2))
  return out


def test_safety_scores_explicit_mask_and_aligned_actors():
  w = RNG.normal(size=(2, 4, 2)) * 5
  p = RNG.normal(size=(2, 3, 2)) * 5
  m = np.array([[1, 0, 1], [1, 1, 0]], bool)
  np.testing.assert_allclose(
    plankd.safety_scores(w, p, m, sigma=2.0), _safety64(w, p, m, 2.0), rtol=1e-5
  )
  pa = RNG.normal(size=(2, 4, 3, 2)) * 5
  np.testing.assert_allclose(plankd.safety_scores(w, pa, m), _safety64(w, pa, m, 3.0), rtol=1e-5)


def test_safety_scores_official_padding_rule_vs_explicit_mask():
  w = RNG.normal(size=(1, 3, 2)) * 3
  # two real actors, one on the line x = -y, then zero padding
  p = np.array([[[2.0, 1.0], [1.5, -1.5], [0.0, 0.0], [0.0, 0.0]]])
  official = np.array([[1, 0, 0, 0]], bool)  # the rule drops the actor with x = -y too
  explicit = np.array([[1, 1, 0, 0]], bool)
  np.testing.assert_allclose(plankd.safety_scores(w, p), _safety64(w, p, official, 3.0), rtol=1e-5)
  np.testing.assert_allclose(
    plankd.safety_scores(w, p, explicit), _safety64(w, p, explicit, 3.0), rtol=1e-5
  )


def _rank64(a, s, margin, exclude_ties=False):
  a, s = np.float64(a), np.float64(s)
  out = []
  for ab, sb in zip(a, s, strict=True):
    terms = [
      max(0.0, -np.sign(sb[j] - sb[k]) * (ab[j] - ab[k]) + margin)
      for j in range(len(ab))
      for k in range(len(ab))
      if not (exclude_ties and sb[j] == sb[k])
    ]
    out.append(np.mean(terms))
  return np.array(out)


def test_waypoint_ranking_loss_matches_numpy_and_margin_floor():
  a = _softmax(RNG.normal(size=(3, 5)))
  s = RNG.random((3, 5))
  s[0, 1] = s[0, 2]  # a tie
  np.testing.assert_allclose(plankd.waypoint_ranking_loss(a, s), _rank64(a, s, 0.1), rtol=1e-5)
  np.testing.assert_allclose(
    plankd.waypoint_ranking_loss(a, s, margin=0.3, exclude_ties=True),
    _rank64(a, s, 0.3, True),
    rtol=1e-5,
  )
  uniform = np.full((3, 5), 0.2)
  np.testing.assert_allclose(plankd.waypoint_ranking_loss(uniform, s), 0.1, rtol=1e-6)


def test_feasible_margin_is_the_largest_a_distribution_meets():
  k = 10
  delta = plankd.feasible_margin(k)
  assert delta == pytest.approx(1 / 45)
  s = np.arange(k, 0, -1, dtype=float)[None]  # distinct scores, highest first
  a = delta * np.arange(k - 1, -1, -1, dtype=float)[None]  # gaps of delta, sums to 1
  np.testing.assert_allclose(a.sum(), 1.0)
  # every distinct pair is met: only the K pairs j = k add the margin
  np.testing.assert_allclose(plankd.waypoint_ranking_loss(a, s, margin=delta), delta / k, rtol=1e-5)
  # the official margin cannot be met by any distribution: this one stays above its floor
  assert float(plankd.waypoint_ranking_loss(a, s, margin=0.1)[0]) > 2 * 0.1 / k
  with pytest.raises(ValueError, match=">= 2"):
    plankd.feasible_margin(1)


def test_attention_entropy_term():
  a = _softmax(RNG.normal(size=(4, 6)))
  np.testing.assert_allclose(
    plankd.attention_entropy_term(a), (a * np.log(a + 1e-8)).sum(-1), rtol=1e-5
  )
  np.testing.assert_allclose(
    plankd.attention_entropy_term(np.full((1, 4), 0.25)), [np.log(0.25)], rtol=1e-5
  )


def test_attentive_waypoint_loss_official_rule_vs_mask_and_normalize():
  a = _softmax(RNG.normal(size=(2, 4)))
  pred = RNG.normal(size=(2, 4, 2))
  target = RNG.normal(size=(2, 4, 2))
  target[1, 2:] = 1000.0  # officially invalid
  valid = np.ones((2, 4), bool)
  valid[1, 2:] = False
  err = np.abs(pred - target) * valid[..., None]
  ref = (a * err.mean(-1)).sum(-1)
  np.testing.assert_allclose(plankd.attentive_waypoint_loss(a, pred, target), ref, rtol=1e-5)
  np.testing.assert_allclose(plankd.attentive_waypoint_loss(a, pred, target, valid), ref, rtol=1e-5)
  frac = valid.mean(-1)
  np.testing.assert_allclose(
    plankd.attentive_waypoint_loss(a, pred, target, valid, normalize="valid"), ref / frac, rtol=1e-5
  )
  # uniform attention is the equal-weight L1 (the student-alone loss)
  u = np.full((2, 4), 0.25)
  np.testing.assert_allclose(
    plankd.attentive_waypoint_loss(u, pred, target, valid), err.mean((1, 2)), rtol=1e-5
  )


def test_ib_loss_and_bottleneck_l1():
  sizes = (3, 2, 2)
  mu = RNG.normal(size=(4, 6))
  sigma = RNG.random((4, 6)) + 0.1
  logits = RNG.normal(size=(4, 7))
  labels = np.stack([RNG.integers(0, c, 4) for c in sizes], -1)
  ce = np.zeros(4)
  start = 0
  for i, c in enumerate(sizes):
    ce -= log_softmax64(logits[:, start : start + c])[np.arange(4), labels[:, i]]
    start += c
  kl = (-0.5 * (1 + 2 * np.log(sigma) - mu**2 - sigma**2)).sum(-1)
  ref = (ce + 1e-2 * kl) / np.log(2)
  out = plankd.ib_loss(mu, sigma, logits, labels, class_sizes=sizes, beta=1e-2)
  np.testing.assert_allclose(out, ref, rtol=1e-5)
  zt, zs = RNG.normal(size=(2, 2, 5))
  np.testing.assert_allclose(plankd.bottleneck_l1(zt, zs), np.abs(zt - zs).mean(-1), rtol=1e-6)


def test_vib_features_channel_mean_flatten_concat():
  f1 = RNG.normal(size=(2, 3, 4, 5))  # NHWC
  f2 = RNG.normal(size=(2, 2, 2, 7))
  ref = np.concatenate([f1.mean(-1).reshape(2, -1), f2.mean(-1).reshape(2, -1)], -1)
  np.testing.assert_allclose(plankd.vib_features([f1, f2]), ref, rtol=1e-5, atol=1e-6)
  nchw = np.moveaxis(f1, -1, 1)
  np.testing.assert_allclose(
    plankd.vib_features(nchw, channel_axis=1), f1.mean(-1).reshape(2, -1), rtol=1e-5, atol=1e-6
  )


def test_gradients_are_finite():
  logits = jnp.asarray(RNG.normal(size=(2, 5)), jnp.float32)
  w = jnp.asarray(RNG.normal(size=(2, 5, 2)), jnp.float32)
  s = plankd.safety_scores(w, jnp.zeros((2, 3, 2)), jnp.zeros((2, 3), bool))  # all zero

  def total(z):
    a = jax.nn.softmax(z)
    return (
      plankd.waypoint_ranking_loss(a, s).sum()
      + plankd.attention_entropy_term(a).sum()
      + plankd.attentive_waypoint_loss(a, w * 0.5, w).sum()
    )

  g = jax.grad(total)(logits)
  assert np.all(np.isfinite(g))
  gs = jax.grad(lambda p: plankd.safety_scores(w, p).sum())(jnp.zeros((2, 3, 2)))
  assert np.all(np.isfinite(gs))


def test_vib_module_shapes_and_gradient():
  vib = plankd.VIB(12, (3, 2), z_dim=8, hidden=16, rngs=nnx.Rngs(0))
  h = jnp.ones((4, 12))
  mu, sigma, z, logits = vib(h, jax.random.key(0))
  assert mu.shape == sigma.shape == z.shape == (4, 8) and logits.shape == (4, 5)
  assert np.all(np.asarray(sigma) > 0)

  def loss(m):
    mu, sigma, _, logits = m(h, jax.random.key(1))
    return plankd.ib_loss(mu, sigma, logits, jnp.zeros((4, 2), int), class_sizes=(3, 2)).mean()

  grads = nnx.grad(loss)(vib)
  assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(grads))


def test_waypoint_attention_sums_to_one():
  att = plankd.WaypointAttention(5, 7, coords=((-24, 72), (-24, 24)), d=16, rngs=nnx.Rngs(0))
  a = att(jnp.zeros((2, 32, 16, 5)), jnp.zeros((2, 7)), jnp.ones((2, 10, 2)))
  assert a.shape == (2, 10)
  np.testing.assert_allclose(a.sum(-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize(
  ("call", "match"),
  [
    (lambda: plankd.safety_scores(np.zeros((2, 3)), np.zeros((2, 4, 2))), r"\(B, K, 2\)"),
    (lambda: plankd.safety_scores(np.zeros((2, 3, 2)), np.zeros((3, 4, 2))), "actor_pos"),
    (
      lambda: plankd.safety_scores(np.zeros((2, 3, 2)), np.zeros((2, 4, 2)), np.ones((2, 5))),
      "actor_mask",
    ),
    (lambda: plankd.safety_scores(np.zeros((1, 3, 2)), np.zeros((1, 4, 2)), sigma=0.0), "sigma"),
    (lambda: plankd.waypoint_ranking_loss(np.zeros((2, 3)), np.zeros((2, 4))), "same shape"),
    (lambda: plankd.attention_entropy_term(np.zeros(3)), "2 dimensions"),
    (
      lambda: plankd.attentive_waypoint_loss(
        np.zeros((2, 3)), np.zeros((2, 4, 2)), np.zeros((2, 4, 2))
      ),
      "matching attention",
    ),
    (
      lambda: plankd.attentive_waypoint_loss(
        np.zeros((2, 3)), np.zeros((2, 3, 2)), np.zeros((2, 3, 2)), normalize="x"
      ),
      "normalize",
    ),
    (
      lambda: plankd.ib_loss(
        np.zeros((2, 4)),
        np.ones((2, 4)),
        np.zeros((2, 4)),
        np.zeros((2, 2), int),
        class_sizes=(3, 2),
      ),
      "logits",
    ),
    (lambda: plankd.bottleneck_l1(np.zeros((2, 4)), np.zeros((2, 5))), "same shape"),
  ],
)
def test_bad_shapes_raise_clear_errors(call, match):
  with pytest.raises(ValueError, match=match):
    call()
