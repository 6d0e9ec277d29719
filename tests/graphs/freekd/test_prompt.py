import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from graphs import FeaturePrompt, diversity_loss


@pytest.mark.parametrize("kind", ["shared", "nodewise"])
def test_prompt_norm_is_bounded(kind):
  x = jax.random.normal(jax.random.key(0), (7, 5))
  prompt = FeaturePrompt(5, kind=kind, clip=0.05, rngs=nnx.Rngs(0))
  if kind == "shared":
    prompt.vector[...] = 10.0 * jnp.ones(5)
  delta = np.asarray(prompt.delta(x))
  assert delta.shape == ((1, 5) if kind == "shared" else (7, 5))
  assert np.all(np.linalg.norm(delta, axis=-1) <= 0.05 + 1e-6)
  np.testing.assert_allclose(prompt(x), np.asarray(x) + delta, rtol=1e-6)


def test_diversity_loss_value_and_stop_gradient():
  rng = np.random.default_rng(0)
  d = [jnp.asarray(rng.normal(size=(4, 3))) for _ in range(3)]
  ref = -np.mean([np.mean(np.sum((np.asarray(d[1]) - np.asarray(d[j])) ** 2, -1)) for j in (0, 2)])
  np.testing.assert_allclose(diversity_loss(d, 1), ref, rtol=1e-6)
  grads = jax.grad(lambda a, b: diversity_loss([a, b], 0), (0, 1))(d[0], d[1])
  assert float(jnp.abs(grads[1]).max()) == 0.0 and float(jnp.abs(grads[0]).max()) > 0


def test_bad_prompt_arguments():
  with pytest.raises(ValueError, match="prompt kind must be 'shared' or 'nodewise'"):
    FeaturePrompt(3, kind="deep", rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="prompt clip must be > 0"):
    FeaturePrompt(3, clip=0.0, rngs=nnx.Rngs(0))


def test_nodewise_prompt_gradient_is_finite_on_featureless_nodes():
  # Zero feature rows (Citeseer's isolated nodes, padding) give a zero prompt row at init;
  # the norm bound must not turn that into 0/0 gradients.
  prompt = FeaturePrompt(5, kind="nodewise", clip=0.1, rngs=nnx.Rngs(0))
  x = jnp.concatenate([jnp.zeros((2, 5)), jnp.ones((3, 5))])
  graphdef, params = nnx.split(prompt, nnx.Param)
  grads = jax.grad(lambda p: jnp.sum(nnx.merge(graphdef, p)(x) ** 2))(params)
  assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
