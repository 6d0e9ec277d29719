# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # PlanKD: compressing an end-to-end motion planner, in a driving simulator
#
# `distill.plankd` reimplements PlanKD (Feng et al., CVPR 2024, arXiv 2403.01238) in JAX + Flax NNX: information-bottleneck feature distillation and safety-aware waypoint-attentive distillation. CARLA cannot run here, so the planners drive on the `highway-env` simulator (the "hw-plan" task): an expert (highway-env's IDM/MOBIL driver) is recorded as compact per-frame states, a pure JAX rasteriser draws the bird's-eye view, and the planners' waypoints drive the car through a pure-pursuit controller. We look at a raster with the expert's waypoints, the attention over waypoints coloured by safety score, and a closed-loop rollout of teacher vs student. Set `FIRA_JAX_NOTEBOOK_SMALL=1` for a quick run.
#
# *The outputs stored with this notebook come from a full run (the default settings) on a 2-core CPU without a GPU; CI runs it with the small settings (`FIRA_JAX_NOTEBOOK_SMALL=1`).*

# %%
# Installs fira-jax when it is not importable (Colab, a fresh kernel): the checkout this
# notebook sits in when there is one (editable), else the `fira-jax` distribution by name.
# FIRA_JAX_PIP_SPEC, when set, gives the pip arguments to install instead, e.g.
# "fira-jax[notebooks]==0.1.0" or "-e /path/to/checkout[notebooks]".
import importlib
import importlib.util
import os
import pathlib
import shlex
import sys

from IPython import get_ipython

spec = os.environ.get("FIRA_JAX_PIP_SPEC")
if spec or importlib.util.find_spec("fira_jax") is None:
  here = pathlib.Path.cwd().resolve()
  tomls = [d / "pyproject.toml" for d in (here, *here.parents)]
  checkout = [t.parent for t in tomls if t.is_file() and 'name = "fira-jax"' in t.read_text()]
  if not spec and checkout:  # editable; importable from the checkout until a kernel restart
    spec = "-e " + shlex.quote(f"{checkout[0]}[notebooks]")
    sys.path.insert(0, str(checkout[0]))
  get_ipython().run_line_magic("pip", f"install -q {spec or shlex.quote('fira-jax[notebooks]')}")
  importlib.invalidate_caches()

# %%
import os

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from distill import plankd

SMALL = os.environ.get("FIRA_JAX_NOTEBOOK_SMALL") == "1"
scene = plankd.SceneConfig()
sim = plankd.SimConfig(duration=8.0, route_length=150.0) if SMALL else plankd.SimConfig()
print("small settings" if SMALL else "full settings")

# %% [markdown]
# ## Expert data
#
# `collect` runs the expert on training seeds 0, 1, ... and stores the ego pose and speed, up to 30 other vehicles and a few static off-road distractors per frame, never images. `load_dataset` derives the targets: 10 waypoints 0.4 s apart in the ego frame and 7 auxiliary labels.

# %%
n_train = 2 if SMALL else 40
plankd.collect(range(n_train), "train.npz", sim=sim, scene=scene)
plankd.collect(list(plankd.SEEDS["val"])[:1], "val.npz", sim=sim, scene=scene)
train_set = plankd.load_dataset("train.npz", scene)
val_set = plankd.load_dataset("val.npz", scene)
print(
  len(train_set),
  "training frames; labels",
  dict(zip(plankd.AUX_NAMES, plankd.AUX_CLASSES, strict=True)),
)

# %% [markdown]
# ## The BEV raster and the expert's waypoints
#
# Rows are metres ahead of the ego (−24 to 72 m), columns metres to its right (±24 m). Channels: vehicles, their relative speed, drivable area, lane markings, distractors.

# %%
(x0, _), (y0, _) = scene.coords


def to_pixels(points):
  return (np.asarray(points)[..., 1] - y0) / scene.resolution, (
    np.asarray(points)[..., 0] - x0
  ) / scene.resolution


def draw(ax, ego, others, distractors, title=""):
  bev = np.asarray(
    plankd.rasterize(jnp.asarray(ego), jnp.asarray(others), jnp.asarray(distractors), scene)
  )
  rgb = np.stack([bev[..., 0], 0.4 * bev[..., 2] + 0.6 * bev[..., 3], bev[..., 4]], -1).clip(0, 1)
  ax.imshow(rgb, origin="lower")
  ax.set_title(title, fontsize=8)
  ax.axis("off")


frame = len(train_set) // 3
b = train_set.batch(np.array([frame]))
fig, ax = plt.subplots(figsize=(3, 6))
draw(ax, b["ego"][0], b["others"][0], b["distractors"][0], f"frame {frame}")
cols, rows = to_pixels(b["waypoints"][0])
ax.plot(cols, rows, "o-", color="yellow", ms=3, label="expert waypoints")
ax.legend(fontsize=7)
plt.show()

# %% [markdown]
# ## Teacher, then a student with PlanKD
#
# The teacher (2.9M parameters) is trained first with the plain waypoint + auxiliary loss; the S-S student (0.21M, 7% of the teacher) is trained with PlanKD's full objective. `keep_modules=True` returns the trained waypoint attention as well.

# %%
cfg = plankd.TrainConfig(epochs=1, batch_size=32) if SMALL else plankd.TrainConfig(epochs=4)
teacher, info_t = plankd.train("teacher", "teacher", train_set, seed=0, config=cfg, scene=scene)
student, info_s = plankd.train(
  "plankd", "S-S", train_set, seed=0, config=cfg, scene=scene, teacher=teacher, keep_modules=True
)
print("teacher loss", info_t["first_loss"], "->", info_t["final_loss"])
print("student loss", info_s["first_loss"], "->", info_s["final_loss"])

# %% [markdown]
# ## Attention over waypoints, coloured by safety score
#
# The safety score of a waypoint is the kernel density of the other vehicles (predicted at the waypoint's time) around it; the ranking loss pushes the attention towards waypoints with higher scores.

# %%
xs = jax.vmap(lambda e, o: plankd.actors(e, o, scene))(
  jnp.asarray(b["ego"]), jnp.asarray(b["others"])
)
safety = np.asarray(plankd.safety_scores(b["waypoints"], xs[1], xs[2]))[0]
bev = jax.vmap(lambda e, o, d: plankd.rasterize(e, o, d, scene))(
  b["ego"], b["others"], b["distractors"]
)
att = np.asarray(
  info_s["attention"](
    bev, plankd.measurements(jnp.asarray(b["ego"]), scene), jnp.asarray(b["waypoints"])
  )
)[0]
fig, ax = plt.subplots(figsize=(6, 2.5))
bars = ax.bar(np.arange(1, 11), att, color=plt.cm.viridis(safety / max(safety.max(), 1e-9)))
ax.set_xlabel("waypoint k (0.4 s apart)")
ax.set_ylabel("attention")
ax.set_title("bar colour: safety score (yellow = near traffic)", fontsize=8)
plt.show()
print("safety scores", np.round(safety, 3))

# %% [markdown]
# ## Closed loop: teacher vs student
#
# Each planner drives a held-out test seed through the waypoint controller; an episode ends at the route's end, a collision, leaving the road, standing still for 5 s or the time limit. Driving score = 100 · route completion · infraction penalty (CARLA's 0.60 per collision, 0.65 per off-road).

# %%
import functools

env = plankd.make_env(sim, scene)
control = functools.partial(plankd.waypoint_controller, dt=0.4)
rollouts = {}
for name, model in [("teacher", teacher), ("student", student)]:
  plan = plankd.plan_function(model, scene)
  res = plankd.closed_loop_episode(env, 10000, plan, control, sim, scene, record=True)
  rollouts[name] = res
  print(name, plankd.driving_metrics([res], sim.route_length))
env.close()
n = 6
fig, axes = plt.subplots(2, n, figsize=(1.6 * n, 6))
for row, (name, res) in enumerate(rollouts.items()):
  steps = np.linspace(0, len(res.frames) - 1, n).astype(int)
  for ax, t in zip(axes[row], steps, strict=True):
    ego, others = res.frames[t]
    draw(ax, ego, others, res.distractors, f"{name} t={t * scene.dt:.1f}s")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## The whole comparison
#
# `fira-jax distill plankd compare` runs the grid (teacher; S-L, S-M, S-S students alone, with output KD, FitNet, PlanKD and its ablations; three training seeds; 50 test seeds) and writes a report; `benchmarks/results/distill/plankd.md` holds the committed one.
