"""The target's convolution and pooling: gradients equal plain autodiff's (the forms differ)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from hypernet import net_b
from hypernet._baselines import train_curve
from hypernet._convnet import _conv, _conv_plain, _max_pool
from hypernet._tasks import Episode


@pytest.mark.parametrize(
  "shape,k,stride",
  [((2, 8, 8, 3), 3, 1), ((2, 8, 8, 3), 3, 2), ((2, 7, 9, 3), 3, 2), ((2, 8, 8, 3), 1, 2),
   ((1, 5, 6, 2), 3, 1), ((2, 7, 7, 2), 1, 1)],
)  # fmt: skip
def test_conv_gradients_equal_autodiff(shape, k, stride):
  x = jax.random.normal(jax.random.key(0), shape)
  w = jax.random.normal(jax.random.key(1), (k, k, shape[-1], 4))

  def loss(conv):
    return lambda x, w: jnp.sin(conv(x, w, stride)).sum()

  np.testing.assert_allclose(_conv(x, w, stride), _conv_plain(x, w, stride), atol=1e-6)
  ours = jax.grad(loss(_conv), (0, 1))(x, w)
  ref = jax.grad(loss(_conv_plain), (0, 1))(x, w)
  for a, b in zip(ours, ref, strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_conv_gradients_under_vmap_and_second_order():
  xs = jax.random.normal(jax.random.key(0), (3, 2, 6, 6, 2))
  ws = jax.random.normal(jax.random.key(1), (3, 3, 3, 2, 4))

  def grads(conv):
    return jax.vmap(jax.grad(lambda x, w: jnp.sin(conv(x, w, 1)).sum(), (0, 1)))(xs, ws)

  for a, b in zip(grads(_conv), grads(_conv_plain), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)

  def second(conv):
    inner = lambda w: jax.grad(lambda x: jnp.sin(conv(x, w, 1)).sum())(xs[0])  # noqa: E731
    return jax.grad(lambda w: (inner(w) ** 2).sum())(ws[0])

  np.testing.assert_allclose(second(_conv), second(_conv_plain), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape", [(2, 8, 8, 3), (2, 7, 9, 3)])
def test_max_pool_equals_reduce_window(shape):
  h = jax.random.normal(jax.random.key(0), shape)

  def ref(h):
    return jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")

  np.testing.assert_array_equal(_max_pool(h), ref(h))
  g = jax.random.normal(jax.random.key(1), ref(h).shape)
  np.testing.assert_array_equal(
    jax.vjp(_max_pool, h)[1](g)[0], jax.vjp(ref, h)[1](g)[0]
  )  # no ties in Gaussian inputs


def test_scanned_training_equals_stepwise_training():
  """``train_curve`` (epochs and steps in ``lax.scan``) equals the same Adam steps one by one."""
  target = net_b()
  k, n_tr, n_te, batch, epochs = 2, 6, 3, 4, 2
  imgs = jax.random.normal(jax.random.key(0), (k, n_tr + n_te, 32, 32, 3))
  ep = Episode(imgs[:, :n_tr], imgs[:, n_tr:], jnp.arange(k))
  params = target.init(jax.random.key(1), k)
  key = jax.random.key(2)
  accs = train_curve(target, params, ep, key, n_support=2, epochs=epochs, batch=batch, lr=1e-2)

  x, y = ep.train.reshape(-1, 32, 32, 3), jnp.repeat(jnp.arange(k), n_tr)
  tx, p = optax.adam(1e-2), params
  opt = tx.init(p)
  n, spe = x.shape[0], -(-x.shape[0] // batch)

  def loss(p, xb, yb):
    logits = target.apply(p, None, xb, train=True)[0]
    return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

  @jax.jit
  def step(p, opt, xb, yb):
    upd, opt = tx.update(jax.grad(loss)(p, xb, yb), opt, p)
    return optax.apply_updates(p, upd), opt

  ref = []
  for e in range(epochs):
    perm = jax.random.permutation(jax.random.fold_in(key, e), n)
    idx = perm[jnp.arange(spe * batch) % n].reshape(spe, batch)
    for i in idx:
      p, opt = step(p, opt, x[i], y[i])
    sx = ep.train[:, :2].reshape(-1, 32, 32, 3)
    logits = target.apply(p, target.batch_stats(p, sx), ep.test.reshape(-1, 32, 32, 3))[0]
    ref.append((logits.argmax(-1) == jnp.repeat(jnp.arange(k), n_te)).mean())
  np.testing.assert_allclose(accs, np.array(ref), atol=1e-6)
