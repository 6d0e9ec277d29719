"""PudNet: generated shapes, permutation invariance, determinism, the prototype head, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from hypernet import PudNet, PudNetConfig, build_pudnet, net_a, net_b, predict, resnet18
from hypernet._convnet import l2_normalize

TINY = dict(d=16, h=2)


def _support(target, k=3, n=2, seed=0):
  x = jax.random.normal(jax.random.key(seed), (k * n, *target.input_shape))
  return x, jnp.repeat(jnp.arange(k), n)


@pytest.mark.parametrize(
  "make,head", [(net_a, "proto_cosine"), (net_b, "predicted_fc"), (resnet18, "canonical_fc")]
)
def test_generated_shapes_equal_the_target_spec(make, head):
  labels = "class_means" if head == "predicted_fc" else "none"
  model = PudNet(make(), 3, head=head, sketch_labels=labels, rngs=nnx.Rngs(0), **TINY)
  x, y = _support(model.target)
  params, state = jax.eval_shape(lambda: model(x, y))
  for spec in model.target.conv_specs():
    assert params["kernels"][spec.name].shape == spec.shape
    assert state[spec.name]["mean"].shape == (spec.shape[-1],)
  assert params["head"]["kernel"].shape == (model.target.feature_dim, 3)
  n_layers = len(model.target.conv_specs())
  assert n_layers == {"net_a": 3, "net_b": 4, "resnet18": 20}[model.target.name]


def test_spec_parameter_counts():
  assert sum(np.prod(s.shape) for s in net_a().conv_specs()) == 55_584
  assert sum(np.prod(s.shape) for s in net_b().conv_specs()) == 112_320
  kinds = [s.shape[:2] for s in resnet18().conv_specs()]
  assert kinds.count((3, 3)) == 17 and kinds.count((1, 1)) == 3


@pytest.fixture(scope="module")
def small_model():
  return PudNet(net_a(), 3, rngs=nnx.Rngs(0), **TINY)


def test_prediction_is_invariant_to_shuffling_the_support_set(small_model):
  x, y = _support(small_model.target, n=3)
  perm = np.random.default_rng(0).permutation(len(y))
  a, sa = predict(small_model, x, y)
  b, sb = predict(small_model, x[perm], y[perm])
  jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, atol=1e-5), (a, sa), (b, sb))


def test_same_seed_same_hypernetwork():
  cfg = PudNetConfig(**TINY)
  leaves = [jax.tree.leaves(nnx.state(build_pudnet(cfg, s), nnx.Param)) for s in (0, 0, 1)]
  assert all(np.array_equal(u, v) for u, v in zip(leaves[0], leaves[1], strict=True))
  assert not all(np.array_equal(u, v) for u, v in zip(leaves[0], leaves[2], strict=True))


def test_prototype_head_equals_its_dense_form(small_model):
  x, y = _support(small_model.target, n=3)
  params, state = predict(small_model, x, y)
  q = jax.random.normal(jax.random.key(5), (7, 28, 28, 1))
  logits, _ = small_model.target.apply(params, state, q)
  feat_s, _, _ = small_model.target.features(params, state, x, train=False)
  feat_q, _, _ = small_model.target.features(params, state, q, train=False)
  protos = l2_normalize(jnp.stack([feat_s[y == c].mean(0) for c in range(3)]))
  direct = small_model.tau[...] * l2_normalize(feat_q) @ protos.T
  np.testing.assert_allclose(logits, direct, atol=1e-5)
  np.testing.assert_array_equal(params["head"]["bias"], 0.0)


def test_bad_support_sets_give_clear_errors(small_model):
  x, y = _support(small_model.target)
  with pytest.raises(ValueError, match="empty"):
    predict(small_model, x[:0], y[:0])
  with pytest.raises(ValueError, match=r"net_a takes images of shape \(N, 28, 28, 1\)"):
    predict(small_model, jnp.zeros((6, 32, 32, 3)), y)
  with pytest.raises(ValueError, match="no support image"):
    predict(small_model, x, jnp.zeros_like(y))
  with pytest.raises(ValueError, match=r"\[0, 3\)"):
    predict(small_model, x, y + 1)


def test_bad_configs_give_clear_errors():
  with pytest.raises(ValueError, match="class_means"):
    PudNetConfig(head="predicted_fc")
  with pytest.raises(ValueError, match="setting"):
    PudNetConfig(setting="cross")
  with pytest.raises(ValueError, match="unknown target"):
    build_pudnet(PudNetConfig(target="vgg"), 0)
