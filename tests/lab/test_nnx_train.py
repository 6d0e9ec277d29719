"""The NNX training helper: same update as a hand-written optax step, tuples of modules with
their own optimizers, compile once, early stopping, fit with metrics."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from fira_jax.lab import EarlyStopping, MetricsLog, NNXTrainer, nnx_train, read_metrics


def _loss(model, batch, key):
  x, y = batch
  pred = model(x)
  return jnp.mean((pred - y) ** 2), {"pred_mean": pred.mean()}


def _pair_loss(models, batch, key):
  x, y = batch
  return jnp.mean((models[1](models[0](x)) - y) ** 2), ()


def _eval(model, batch):
  x, y = batch
  return {"mse": jnp.mean((model(x) - y) ** 2)}


def _batch(seed=0):
  rng = np.random.default_rng(seed)
  x = jnp.asarray(rng.normal(size=(16, 3)), jnp.float32)
  return x, x @ jnp.asarray([[1.0], [-2.0], [0.5]])


def test_step_equals_a_plain_optax_step():
  model = nnx.Linear(3, 1, rngs=nnx.Rngs(0))
  _, params = nnx.split(model, nnx.Param)
  params = jax.tree.map(jnp.array, params)
  tx = optax.adam(0.1)
  trainer = NNXTrainer(model, tx, _loss)
  batch = _batch()
  opt_state = tx.init(params)
  graphdef = nnx.graphdef(trainer.model)
  for _ in range(3):

    def f(p):
      return _loss(nnx.merge(graphdef, p), batch, None)[0]

    loss_ref, g = jax.value_and_grad(f)(params)
    u, opt_state = tx.update(g, opt_state, params)
    params = optax.apply_updates(params, u)
    loss, aux = trainer.step(batch, jax.random.key(0))
    np.testing.assert_allclose(loss, loss_ref, rtol=1e-6)
  got = nnx.state(trainer.model, nnx.Param)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), got, params)


def test_tuple_of_models_each_with_its_optimizer():
  rngs = nnx.Rngs(0)
  a, b = nnx.Linear(3, 4, rngs=rngs), nnx.Linear(4, 1, rngs=rngs)
  b_before = jax.tree.map(jnp.array, nnx.state(b, nnx.Param))
  trainer = NNXTrainer((a, b), (optax.sgd(0.1), optax.sgd(0.0)), _pair_loss)
  batch = _batch()
  first, _ = trainer.step(batch, jax.random.key(0))
  for _ in range(20):
    loss, _ = trainer.step(batch, jax.random.key(0))
  assert loss < first
  a2, b2 = trainer.models
  jax.tree.map(np.testing.assert_array_equal, nnx.state(b2, nnx.Param), b_before)  # lr 0
  with pytest.raises(ValueError, match="one per model"):
    NNXTrainer((a2, b2), (optax.sgd(0.1),) * 3, _pair_loss)


def test_compiles_once_across_trainers():
  batch = _batch()
  before = nnx_train._train_step._cache_size()
  tx = optax.adam(0.1)  # the transform is part of the graph: reuse the object across seeds
  for seed in range(3):
    t = NNXTrainer(nnx.Linear(3, 1, rngs=nnx.Rngs(seed)), tx, _loss)
    for _ in range(2):
      t.step(batch, jax.random.key(seed))
  assert nnx_train._train_step._cache_size() == before + 1


def test_fit_logs_evaluates_and_stops_early(tmp_path):
  model = nnx.Linear(3, 1, rngs=nnx.Rngs(0))
  trainer = NNXTrainer(model, optax.adam(0.05), _loss, eval_fn=_eval)
  batch = _batch()
  log = MetricsLog(tmp_path)
  res = trainer.fit(
    [batch] * 50, steps=50, key=jax.random.key(0), log=log, log_every=5, record={"run": "a"}
  )
  assert res.steps_done == 50
  rows = read_metrics(tmp_path)
  assert [r["step"] for r in rows] == list(range(5, 51, 5))
  assert rows[0]["run"] == "a" and rows[-1]["mse"] < rows[0]["mse"]
  np.testing.assert_allclose(res.history["mse"][-1], trainer.evaluate(batch)["mse"], rtol=1e-6)
  # A score that never improves after the first step stops after `patience` steps.
  stop = EarlyStopping(patience=3)
  res = trainer.fit(
    iter(lambda: batch, None), steps=100, key=jax.random.key(1), stopper=stop, score=lambda r: 0
  )
  assert res.steps_done == 4 and stop.best_epoch == 1


def test_early_stopping_ties_and_modes():
  s = EarlyStopping(patience=2)
  assert s.update(0, (0.5, -1.0), test=0.4)
  assert s.update(1, (0.5, -0.9), test=0.45)  # same accuracy, lower loss
  assert not s.update(2, (0.5, -0.9))
  assert s.payload == {"test": 0.45} and not s.should_stop(2) and s.should_stop(3)
  m = EarlyStopping(mode="min")
  assert m.update(0, 2.0) and m.update(1, 1.0) and not m.update(2, 1.5)
  assert not m.should_stop(10**6)  # no patience: never stops
  fresh = EarlyStopping(1)
  fresh.update(3, 0.0)
  assert not EarlyStopping.all_stop([s, fresh], 3) and EarlyStopping.all_stop([s, fresh], 4)
  with pytest.raises(ValueError, match="patience"):
    EarlyStopping(0)
