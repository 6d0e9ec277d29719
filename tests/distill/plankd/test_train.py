"""Training the planners: a short run lowers the loss; every method takes finite steps."""

import numpy as np
import pytest

from distill.plankd._data import Dataset
from distill.plankd._planner import PLANNERS, Planner, num_params
from distill.plankd._scene import SceneConfig, aux_labels, waypoint_targets
from distill.plankd._train import TrainConfig, train

SCENE = SceneConfig()


def synthetic_dataset(episodes=4, steps=40, seed=0):
  """Straight drives at different speeds and lanes, with a few vehicles (no simulator)."""
  rng = np.random.default_rng(seed)
  ego, others, episode = [], [], []
  for e in range(episodes):
    t = np.arange(steps) * 0.2
    v = rng.uniform(18, 30)
    lane = rng.integers(0, 4) * 4.0
    ego.append(
      np.stack([100 + v * t, np.full(steps, lane), np.zeros(steps), np.full(steps, v)], -1)
    )
    o = np.zeros((steps, 30, 7))
    for i in range(5):
      ov = rng.uniform(15, 30)
      o[:, i] = np.stack(
        [
          100 + rng.uniform(-20, 60) + ov * t,
          np.full(steps, rng.integers(0, 4) * 4.0),
          np.zeros(steps),
          np.full(steps, ov),
          np.full(steps, 5.0),
          np.full(steps, 2.0),
          np.ones(steps),
        ],
        -1,
      )
    others.append(o)
    episode.append(np.full(steps, e))
  ego = np.concatenate(ego).astype(np.float32)
  others = np.concatenate(others).astype(np.float32)
  episode = np.concatenate(episode).astype(np.int32)
  wp, mask = waypoint_targets(ego, episode, SCENE)
  lanes = np.round(ego[:, 1] / 4).astype(int)
  labels = aux_labels(ego, others, lanes, lanes, np.zeros(len(ego)), episode, SCENE)
  return Dataset(
    ego=ego,
    others=others,
    distractors=np.zeros((episodes, 4, 3), np.float32),
    episode=episode,
    seeds=np.arange(episodes),
    waypoints=wp,
    wp_mask=mask,
    labels=labels.astype(np.int32),
    dropped=np.zeros(0, int),
  )


def test_planner_parameter_counts():
  counts = {
    k: num_params(Planner(c, rngs=__import__("flax").nnx.Rngs(0))) for k, c in PLANNERS.items()
  }
  assert counts == {"teacher": 2_902_757, "S-L": 1_476_309, "S-M": 672_325, "S-S": 206_845}


def test_a_short_training_run_lowers_the_loss():
  data = synthetic_dataset()
  _, info = train(
    "alone", "S-S", data, seed=0, config=TrainConfig(epochs=6, batch_size=32), progress=False
  )
  assert info["steps"] == 30
  assert info["final_loss"] < 0.7 * info["first_loss"]


def test_plankd_step_with_a_teacher_is_finite():
  data = synthetic_dataset(episodes=2)
  cfg = TrainConfig(epochs=1, batch_size=16)
  # a small planner stands in for the teacher
  teacher, _ = train("teacher", "S-S", data, seed=0, config=cfg, progress=False)
  _, info = train("plankd", "S-S", data, seed=1, config=cfg, teacher=teacher, progress=False)
  assert np.isfinite(info["final_loss"])


def test_bad_training_inputs():
  data = synthetic_dataset(episodes=1, steps=20)
  with pytest.raises(ValueError, match="unknown method"):
    train("nope", "S-S", data, seed=0)
  with pytest.raises(ValueError, match="unknown planner size"):
    train("alone", "XL", data, seed=0)
  with pytest.raises(ValueError, match="needs a trained teacher"):
    train("plankd", "S-S", data, seed=0)
  with pytest.raises(ValueError, match="fewer than one batch"):
    train("alone", "S-S", data, seed=0, config=TrainConfig(batch_size=64))


@pytest.mark.parametrize(
  ("method", "trains_attention"), [("plankd", True), ("plankd_sg", False), ("plankd_fix", True)]
)
def test_waypoint_loss_trains_the_attention_only_in_official_plankd(method, trains_attention):
  import jax
  from flax import nnx

  from distill.plankd._train import Student, _student_loss, scene_inputs

  small = SceneConfig(x_range=(-8.0, 24.0), y_range=(-8.0, 8.0))  # a 32 x 16 raster
  data = synthetic_dataset(episodes=1, steps=24)
  batch = data.batch(np.arange(2))
  cfg = TrainConfig(rank_weight=0.0, entropy_weight=0.0, aux_weight=0.0, z_weight=0.0)
  rngs = nnx.Rngs(0)
  teacher = Planner(PLANNERS["S-S"], rngs=rngs)
  student = Student(Planner(PLANNERS["S-S"], rngs=rngs), method, 24, small, rngs=rngs)
  x = scene_inputs(batch, small)
  t_out = teacher(x["bev"], x["meas"])

  def loss(s):
    return _student_loss(method, cfg, small, s, x, batch, t_out, jax.random.key(0))[0]

  only_attention = nnx.All(nnx.Param, nnx.PathContains("attention"))
  grads = nnx.grad(loss, argnums=nnx.DiffState(0, only_attention))(student)
  leaves = jax.tree.leaves(grads)
  assert leaves
  norm = sum(float(np.abs(g).sum()) for g in leaves)
  assert (norm > 0) == trains_attention


def test_plankd_fix_adds_the_plain_l1_and_caps_the_margin():
  import jax
  from flax import nnx

  from distill.plankd._losses import feasible_margin
  from distill.plankd._train import Student, _l1, _student_loss, scene_inputs

  small = SceneConfig(x_range=(-8.0, 24.0), y_range=(-8.0, 8.0))
  batch = synthetic_dataset(episodes=1, steps=24).batch(np.arange(2))
  teacher = Planner(PLANNERS["S-S"], rngs=nnx.Rngs(0))
  x = scene_inputs(batch, small)
  t_out = teacher(x["bev"], x["meas"])

  def terms(method, cfg):
    rngs = nnx.Rngs(1)  # the same student and attention for every method
    student = Student(Planner(PLANNERS["S-S"], rngs=rngs), method, 24, small, rngs=rngs)
    out = _student_loss(method, cfg, small, student, x, batch, t_out, jax.random.key(0))[1]
    wp = student.planner(x["bev"], x["meas"])[0]
    return out, float(_l1(wp, batch["waypoints"], batch["wp_mask"]))

  plain, l1 = terms("plankd_fix", TrainConfig(fix_l1_share=1.0))
  assert float(plain["wp"]) == pytest.approx(l1, rel=1e-5)
  capped, _ = terms("plankd_fix", TrainConfig())
  official, _ = terms("plankd", TrainConfig())
  # the ranking loss never drops below margin / K (the K pairs j = k)
  assert float(capped["rank"]) >= feasible_margin(10) / 10 - 1e-6
  assert float(capped["rank"]) < float(official["rank"])
