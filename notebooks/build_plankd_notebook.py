"""Writes ``notebooks/plankd.ipynb`` (outputs stripped) with nbformat.

Run from the repository root: ``python notebooks/build_plankd_notebook.py`` then
``ruff format notebooks/plankd.ipynb``.
"""

import pathlib

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

CELLS = [
  new_markdown_cell(
    "# PlanKD: compressing an end-to-end motion planner, in a driving simulator\n\n"
    "`distill.plankd` reimplements PlanKD (Feng et al., CVPR 2024, arXiv 2403.01238) in JAX + "
    "Flax NNX: information-bottleneck feature distillation and safety-aware waypoint-attentive "
    "distillation. CARLA cannot run here, so the planners drive on the `highway-env` "
    'simulator (the "hw-plan" task): an expert (highway-env\'s IDM/MOBIL driver) is recorded '
    "as compact per-frame states, a pure JAX rasteriser draws the bird's-eye view, and the "
    "planners' waypoints drive the car through a pure-pursuit controller. We look at a raster "
    "with the expert's waypoints, the attention over waypoints coloured by safety score, and "
    "a closed-loop rollout of teacher vs student. Set `FIRA_JAX_NOTEBOOK_SMALL=1` for a quick "
    "run."
  ),
  new_code_cell(
    "import importlib.util\n\n"
    'if importlib.util.find_spec("fira_jax") is None or importlib.util.find_spec("highway_env") is None:\n'
    "  get_ipython().run_line_magic(\n"
    '      "pip", "install -q \'fira-jax[notebooks,sim] @ git+https://github.com/fira-jax/fira-jax\'"\n'
    "  )"
  ),
  new_code_cell(
    "import os\n\n"
    "import jax\n"
    "import jax.numpy as jnp\n"
    "import matplotlib.pyplot as plt\n"
    "import numpy as np\n\n"
    "from distill import plankd\n\n"
    'SMALL = os.environ.get("FIRA_JAX_NOTEBOOK_SMALL") == "1"\n'
    "scene = plankd.SceneConfig()\n"
    "sim = plankd.SimConfig(duration=8.0, route_length=150.0) if SMALL else plankd.SimConfig()\n"
    "print('small settings' if SMALL else 'full settings')"
  ),
  new_markdown_cell(
    "## Expert data\n\n"
    "`collect` runs the expert on training seeds 0, 1, ... and stores the ego pose and speed, "
    "up to 30 other vehicles and a few static off-road distractors per frame, never images. "
    "`load_dataset` derives the targets: 10 waypoints 0.4 s apart in the ego frame and 7 "
    "auxiliary labels."
  ),
  new_code_cell(
    "n_train = 2 if SMALL else 40\n"
    "plankd.collect(range(n_train), 'train.npz', sim=sim, scene=scene)\n"
    "plankd.collect(list(plankd.SEEDS['val'])[:1], 'val.npz', sim=sim, scene=scene)\n"
    "train_set = plankd.load_dataset('train.npz', scene)\n"
    "val_set = plankd.load_dataset('val.npz', scene)\n"
    "print(len(train_set), 'training frames; labels', dict(zip(plankd.AUX_NAMES, plankd.AUX_CLASSES, strict=True)))"
  ),
  new_markdown_cell(
    "## The BEV raster and the expert's waypoints\n\n"
    "Rows are metres ahead of the ego (−24 to 72 m), columns metres to its right (±24 m). "
    "Channels: vehicles, their relative speed, drivable area, lane markings, distractors."
  ),
  new_code_cell(
    "(x0, _), (y0, _) = scene.coords\n\n"
    "def to_pixels(points):\n"
    "  return (np.asarray(points)[..., 1] - y0) / scene.resolution, (np.asarray(points)[..., 0] - x0) / scene.resolution\n\n"
    "def draw(ax, ego, others, distractors, title=''):\n"
    "  bev = np.asarray(plankd.rasterize(jnp.asarray(ego), jnp.asarray(others), jnp.asarray(distractors), scene))\n"
    "  rgb = np.stack([bev[..., 0], 0.4 * bev[..., 2] + 0.6 * bev[..., 3], bev[..., 4]], -1).clip(0, 1)\n"
    "  ax.imshow(rgb, origin='lower'); ax.set_title(title, fontsize=8); ax.axis('off')\n\n"
    "frame = len(train_set) // 3\n"
    "b = train_set.batch(np.array([frame]))\n"
    "fig, ax = plt.subplots(figsize=(3, 6))\n"
    "draw(ax, b['ego'][0], b['others'][0], b['distractors'][0], f'frame {frame}')\n"
    "cols, rows = to_pixels(b['waypoints'][0])\n"
    "ax.plot(cols, rows, 'o-', color='yellow', ms=3, label='expert waypoints'); ax.legend(fontsize=7)\n"
    "plt.show()"
  ),
  new_markdown_cell(
    "## Teacher, then a student with PlanKD\n\n"
    "The teacher (2.9M parameters) is trained first with the plain waypoint + auxiliary loss; "
    "the S-S student (0.21M, 7% of the teacher) is trained with PlanKD's full objective. "
    "`keep_modules=True` returns the trained waypoint attention as well."
  ),
  new_code_cell(
    "cfg = plankd.TrainConfig(epochs=1, batch_size=32) if SMALL else plankd.TrainConfig(epochs=4)\n"
    "teacher, info_t = plankd.train('teacher', 'teacher', train_set, seed=0, config=cfg, scene=scene)\n"
    "student, info_s = plankd.train('plankd', 'S-S', train_set, seed=0, config=cfg, scene=scene,\n"
    "                               teacher=teacher, keep_modules=True)\n"
    "print('teacher loss', info_t['first_loss'], '->', info_t['final_loss'])\n"
    "print('student loss', info_s['first_loss'], '->', info_s['final_loss'])"
  ),
  new_markdown_cell(
    "## Attention over waypoints, coloured by safety score\n\n"
    "The safety score of a waypoint is the kernel density of the other vehicles (predicted at "
    "the waypoint's time) around it; the ranking loss pushes the attention towards waypoints "
    "with higher scores."
  ),
  new_code_cell(
    "xs = jax.vmap(lambda e, o: plankd.actors(e, o, scene))(jnp.asarray(b['ego']), jnp.asarray(b['others']))\n"
    "safety = np.asarray(plankd.safety_scores(b['waypoints'], xs[1], xs[2]))[0]\n"
    "bev = jax.vmap(lambda e, o, d: plankd.rasterize(e, o, d, scene))(b['ego'], b['others'], b['distractors'])\n"
    "att = np.asarray(info_s['attention'](bev, plankd.measurements(jnp.asarray(b['ego']), scene), jnp.asarray(b['waypoints'])))[0]\n"
    "fig, ax = plt.subplots(figsize=(6, 2.5))\n"
    "bars = ax.bar(np.arange(1, 11), att, color=plt.cm.viridis(safety / max(safety.max(), 1e-9)))\n"
    "ax.set_xlabel('waypoint k (0.4 s apart)'); ax.set_ylabel('attention')\n"
    "ax.set_title('bar colour: safety score (yellow = near traffic)', fontsize=8)\n"
    "plt.show()\n"
    "print('safety scores', np.round(safety, 3))"
  ),
  new_markdown_cell(
    "## Closed loop: teacher vs student\n\n"
    "Each planner drives a held-out test seed through the waypoint controller; an episode ends "
    "at the route's end, a collision, leaving the road, standing still for 5 s or the time "
    "limit. Driving score = 100 · route completion · infraction penalty (CARLA's 0.60 per "
    "collision, 0.65 per off-road)."
  ),
  new_code_cell(
    "import functools\n\n"
    "env = plankd.make_env(sim, scene)\n"
    "control = functools.partial(plankd.waypoint_controller, dt=0.4)\n"
    "rollouts = {}\n"
    "for name, model in [('teacher', teacher), ('student', student)]:\n"
    "  plan = plankd.plan_function(model, scene)\n"
    "  res = plankd.closed_loop_episode(env, 10000, plan, control, sim, scene, record=True)\n"
    "  rollouts[name] = res\n"
    "  print(name, plankd.driving_metrics([res], sim.route_length))\n"
    "env.close()\n"
    "n = 6\n"
    "fig, axes = plt.subplots(2, n, figsize=(1.6 * n, 6))\n"
    "for row, (name, res) in enumerate(rollouts.items()):\n"
    "  steps = np.linspace(0, len(res.frames) - 1, n).astype(int)\n"
    "  for ax, t in zip(axes[row], steps, strict=True):\n"
    "    ego, others = res.frames[t]\n"
    "    draw(ax, ego, others, res.distractors, f'{name} t={t * scene.dt:.1f}s')\n"
    "plt.tight_layout(); plt.show()"
  ),
  new_markdown_cell(
    "## The whole comparison\n\n"
    "`fira-jax distill plankd compare` runs the grid (teacher; S-L, S-M, S-S students alone, "
    "with output KD, FitNet, PlanKD and its ablations; three training seeds; 50 test seeds) "
    "and writes a report; `benchmarks/results/distill/plankd.md` holds the committed one."
  ),
]


def main() -> None:
  nb = new_notebook(cells=CELLS)
  nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
  nb.metadata["colab"] = {"provenance": []}
  path = pathlib.Path(__file__).with_name("plankd.ipynb")
  nbformat.write(nb, path)
  print(f"wrote {path}")


if __name__ == "__main__":
  main()
