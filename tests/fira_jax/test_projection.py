"""Properties of the low-rank projection wrapper (shapes, sides, residual, compilation)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fira_jax
from fira_jax._src.projection import side_for

SHAPES = {
  "tall": ((24, 10), None),
  "wide": ((6, 20), None),
  "square": ((12, 12), None),
  "attn3d": ((12, 3, 4), fira_jax.GaLoreDimensionNumbers(0, (1, 2))),
  "attn3d_out": ((2, 5, 16), fira_jax.GaLoreDimensionNumbers((0, 1), 2)),
}


def _matrix(x, dims):
  if dims is None:
    return x
  red = (dims.reduction_axis,) if isinstance(dims.reduction_axis, int) else dims.reduction_axis
  out = (dims.output_axis,) if isinstance(dims.output_axis, int) else dims.output_axis
  m = int(np.prod([x.shape[a] for a in red]))
  return jnp.transpose(x, tuple(red) + tuple(out)).reshape(m, -1)


def _wrapper(rank, dims, proj_type, base, residual=None, scale=1.0):
  dn = fira_jax.GaLoreDimensionNumbers() if dims is None else dims
  return fira_jax.scale_by_low_rank_projection(
    rank,
    update_proj_gap=2,
    scale=scale,
    base_optimizer=base,
    weight_dimension_numbers={"w": dn, "b": None},
    proj_type=proj_type,
    residual_transform=residual,
  )


@settings(max_examples=12, deadline=None)
@given(
  shape=st.sampled_from(sorted(SHAPES)),
  rank=st.integers(1, 30),
  proj_type=st.sampled_from(["std", "reverse_std", "left", "right"]),
  dtype=st.sampled_from([jnp.float32, jnp.bfloat16]),
  scale=st.sampled_from([1.0, 0.25]),
)
def test_projection_properties(shape, rank, proj_type, dtype, scale):
  full_shape, dims = SHAPES[shape]
  key = jax.random.PRNGKey(rank)
  g = {"w": jax.random.normal(key, full_shape, dtype), "b": jnp.ones((3,), dtype)}
  m, n = _matrix(g["w"], dims).shape
  r = min(rank, m, n)
  side = side_for(m, n, proj_type)

  # Identity inside and an identity residual give the gradient back exactly: the official
  # residual G - alpha*back(R) adds back precisely what alpha*back(N) = alpha*back(R) takes.
  tx = _wrapper(rank, dims, proj_type, optax.identity(), optax.identity(), scale)
  state = tx.init(g)
  out, state = jax.jit(tx.update)(g, state)
  tol = 1e-5 if dtype == jnp.float32 else 5e-2
  chex.assert_trees_all_close(out, g, atol=tol, rtol=tol)
  chex.assert_trees_all_equal_dtypes(out, g)
  chex.assert_trees_all_equal_shapes(out, g)
  basis = state.projector["w"]
  chex.assert_shape(basis, (n if side == "right" else m, r))
  b32 = basis.astype(jnp.float32)
  np.testing.assert_allclose(b32.T @ b32, np.eye(r), atol=2e-2 if dtype == jnp.bfloat16 else 1e-5)

  # With the inner update zeroed, the output is the residual: for alpha = 1 it is orthogonal
  # to the projected subspace, (I - P P^T) G.
  inner = optax.chain(fira_jax.scale_by_adam_moments(), optax.scale(0.0))
  tx0 = _wrapper(rank, dims, proj_type, inner, optax.identity(), 1.0)
  state0 = tx0.init(g)
  res, state0 = jax.jit(tx0.update)(g, state0)
  res_m = _matrix(res["w"], dims).astype(jnp.float32)
  b32 = state0.projector["w"].astype(jnp.float32)
  leak = res_m @ b32 if side == "right" else b32.T @ res_m
  assert float(jnp.max(jnp.abs(leak))) <= (1e-4 if dtype == jnp.float32 else 0.1)
  moments = state0.base_optimizer_state[0]
  chex.assert_shape(moments.mu["w"], (m, r) if side == "right" else (r, n))
  chex.assert_shape(moments.mu["b"], (3,))


@pytest.mark.parametrize("proj_type", ["std", "reverse_std", "left", "right"])
def test_state_shapes_follow_side_rule(proj_type):
  params = {"tall": jnp.zeros((32, 8)), "wide": jnp.zeros((8, 32)), "b": jnp.zeros((8,))}
  state = fira_jax.fira(1e-3, 4, proj_type=proj_type).init(params)[0]
  for name, (m, n) in (("tall", (32, 8)), ("wide", (8, 32))):
    side = side_for(m, n, proj_type)
    assert state.base_optimizer_state.mu[name].shape == ((m, 4) if side == "right" else (4, n))
    assert state.projector[name].shape == ((n, 4) if side == "right" else (m, 4))
  assert state.base_optimizer_state.mu["b"].shape == (8,)
  assert isinstance(state.projector["b"], optax.MaskedNode)
  # std is transpose-equivariant: the (out, in) and (in, out) layouts store the same moments.
  if proj_type == "std":
    assert (
      state.base_optimizer_state.mu["tall"].shape == state.base_optimizer_state.mu["wide"].T.shape
    )


def test_projector_refreshes_every_gap_and_moments_are_not_reset():
  calls = []

  def projector_fn(g, rank, step):
    jax.debug.callback(lambda s: calls.append(int(s)), step)
    return fira_jax.svd_projector(g, rank, step)

  tx = fira_jax.galore(1e-2, 2, update_proj_gap=3, projector_fn=projector_fn)
  p = {"w": jnp.ones((6, 4))}
  state = tx.init(p)
  update = jax.jit(tx.update)
  mus = []
  for t in range(7):
    g = {"w": jnp.cos(jnp.arange(24.0).reshape(6, 4) * (t + 1))}
    _, state = update(g, state, p)
    mus.append(state[0].base_optimizer_state.mu["w"])
  jax.effects_barrier()
  assert calls == [0, 3, 6]
  # After the refresh at t = 3 the first moment still carries the earlier steps' gradients.
  assert float(jnp.linalg.norm(mus[3])) > 0.0 and not np.allclose(mus[3], 0.1 * mus[3])


def test_no_recompilation_on_second_update():
  tx = fira_jax.fira(1e-2, 2, update_proj_gap=2)
  p = {"w": jnp.ones((6, 4)), "b": jnp.ones((4,))}
  state = tx.init(p)

  @jax.jit
  @chex.assert_max_traces(n=1)
  def step(g, state, p):
    return tx.update(g, state, p)

  for t in range(4):  # refresh and non-refresh steps alike
    g = jax.tree.map(lambda x, t=t: x * (t + 1.0), p)
    _, state = step(g, state, p)


def test_rank_larger_than_matrix_is_clamped():
  tx = fira_jax.fira(1e-2, 100)
  p = {"w": jnp.ones((8, 5))}
  state = tx.init(p)
  assert state[0].projector["w"].shape == (5, 5)
  g = {"w": jnp.arange(40.0).reshape(8, 5) / 40}
  u, _ = tx.update(g, state, p)
  assert np.all(np.isfinite(u["w"]))


@pytest.mark.parametrize(
  "kwargs, match",
  [
    (dict(rank=0), "`rank` must be positive"),
    (dict(rank=-3), "`rank` must be positive"),
    (dict(rank=2.5), "`rank` must be an int"),
    (dict(rank=True), "`rank` must be an int"),
    (dict(gamma=0.9), "`gamma` must be >= 1"),
    (dict(proj_type="full"), "`proj_type` must be one of"),
    (dict(update_proj_gap=0), "`update_proj_gap` must be a positive integer"),
    (dict(norm_scaling="column"), "`norm_scaling` must be one of"),
    (dict(residual_form="exact"), "`residual_form` must be one of"),
    (dict(b2=1.0), "`b2` must be in"),
  ],
)
def test_bad_arguments_raise_clear_errors(kwargs, match):
  kwargs = {"rank": 4, **kwargs}
  with pytest.raises((ValueError, TypeError), match=match):
    fira_jax.fira(1e-3, **kwargs)


@pytest.mark.parametrize(
  "dims, match",
  [
    (fira_jax.GaLoreDimensionNumbers(0, 3), r"at \['w'\]: output axis 3 is out of range"),
    (fira_jax.GaLoreDimensionNumbers(0, 0), "must be distinct"),
    (fira_jax.GaLoreDimensionNumbers(0, 1), "must cover all 3 dimensions"),
  ],
)
def test_dimension_numbers_that_do_not_fit_raise(dims, match):
  p = {"w": jnp.zeros((4, 3, 2)), "b": jnp.zeros((2,))}
  tx = fira_jax.fira(1e-3, 2, weight_dimension_numbers={"w": dims, "b": None})
  with pytest.raises(ValueError, match=match):
    tx.init(p)


def test_projecting_a_vector_raises():
  tx = fira_jax.fira(1e-3, 2, weight_dimension_numbers={"b": fira_jax.GaLoreDimensionNumbers()})
  with pytest.raises(ValueError, match=r"needs at least 2 dimensions.*\(5,\)"):
    tx.init({"b": jnp.zeros((5,))})


def test_dimension_numbers_with_wrong_structure_raise():
  tx = fira_jax.fira(1e-3, 2, weight_dimension_numbers={"other": None})
  with pytest.raises(ValueError, match="structure of the parameters"):
    tx.init({"w": jnp.zeros((5, 4))})


@pytest.mark.parametrize("batch_size", [1, 2, 5])
def test_grouped_refresh_equals_the_per_leaf_refresh(batch_size):
  """``refresh_batch_size`` traces one projector per (shape, side, rank) group and gives the
  per-leaf bases and updates."""
  key = jax.random.PRNGKey(0)
  shapes = {"a0": (12, 8), "a1": (12, 8), "a2": (12, 8), "b0": (8, 12), "b1": (8, 12), "c": (8,)}
  params = {k: jax.random.normal(jax.random.fold_in(key, i), s) for i, (k, s) in
            enumerate(shapes.items())}  # fmt: skip
  traced = []

  def projector_fn(g, rank, step):
    traced.append(g.shape)
    return fira_jax.eigh_projector(g, rank, step)

  def run(refresh_batch_size):
    tx = fira_jax.fira(
      1e-2, 3, update_proj_gap=2, projector_fn=projector_fn, refresh_batch_size=refresh_batch_size
    )
    state, p = tx.init(params), params
    update = jax.jit(tx.update)
    for t in range(4):
      g = jax.tree.map(lambda x, t=t: jnp.sin(x * (t + 1.0)), params)
      u, state = update(g, state, p)
      p = optax.apply_updates(p, u)
    return p, state

  traced.clear()
  p_leaf, s_leaf = run(None)
  assert len(traced) == 5  # one projector per projected leaf
  traced.clear()
  p_group, s_group = run(batch_size)
  # Per group ((12, 8) × 3, (8, 12) × 2) one trace, two when the group has a remainder.
  assert set(traced) == {(12, 8), (8, 12)} and len(traced) <= 4
  # float32 rounding only: the eigensolver runs batched instead of matrix by matrix.
  chex.assert_trees_all_close(p_group, p_leaf, rtol=1e-4, atol=1e-5)
  chex.assert_trees_all_close(s_group[0].projector, s_leaf[0].projector, rtol=1e-4, atol=1e-5)


def test_refresh_batch_size_is_checked():
  with pytest.raises(ValueError, match="refresh_batch_size"):
    fira_jax.fira(1e-2, 2, refresh_batch_size=0)
