"""Writes ``notebooks/distill.ipynb`` (outputs stripped) with nbformat.

Run from the repository root: ``python notebooks/build_distill_notebook.py`` then
``ruff format notebooks/distill.ipynb``.
"""

import pathlib

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

CELLS = [
  new_markdown_cell(
    "# Distillation losses and KPOD in JAX\n\n"
    "This notebook shows the `distill` package of fira-jax: classic KD losses as pure "
    "functions, and KPOD (keypoint-based progressive chain-of-thought distillation, "
    "Feng et al., ICML 2024) end to end on generated multi-step arithmetic problems with "
    "the project's LLaMA as the student. Set `FIRA_JAX_NOTEBOOK_SMALL=1` for a quick run."
  ),
  new_code_cell(
    "import importlib.util\n\n"
    'if importlib.util.find_spec("fira_jax") is None:\n'
    "  get_ipython().run_line_magic(\n"
    '      "pip", "install -q \'fira-jax[notebooks] @ git+https://github.com/fira-jax/fira-jax\'"\n'
    "  )"
  ),
  new_code_cell(
    "import os\n\n"
    "import jax.numpy as jnp\n"
    "import matplotlib.pyplot as plt\n"
    "import numpy as np\n\n"
    "import distill\nfrom distill import kpod\n\n"
    'SMALL = os.environ.get("FIRA_JAX_NOTEBOOK_SMALL") == "1"\n'
    "print('small settings' if SMALL else 'full settings')"
  ),
  new_markdown_cell(
    "## Hinton KD at several temperatures\n\n"
    "`kd_loss` returns $T^2\\,\\mathrm{KL}(\\sigma_T(z_t)\\,\\|\\,\\sigma_T(z_s))$ per example."
  ),
  new_code_cell(
    "student = jnp.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.0]])\n"
    "teacher = jnp.array([[3.0, 0.5, 0.2], [0.1, 3.0, 1.0]])\n"
    "for t in [1.0, 2.0, 4.0]:\n"
    "  print(f'T={t}:', distill.kd_loss(student, teacher, temperature=t))"
  ),
  new_markdown_cell(
    "## Generated multi-step problems\n\n"
    "Each rationale step restates one operation; filler phrases and a distractor sentence "
    "make some tokens irrelevant to the answer."
  ),
  new_code_cell(
    "for p in distill.generate_problems(2, seed=0):\n"
    "  print(p.question)\n"
    "  for s in p.steps:\n"
    "    print('  ', s)\n"
    "  print('  answer:', p.answer)"
  ),
  new_markdown_cell(
    "## KPOD pre-computations: token weights, step difficulty, schedule\n\n"
    "`prepare` generates the data, builds the student, trains the token weighting module "
    "and computes the schedules."
  ),
  new_code_cell(
    "cfg = distill.KPODConfig.smoke() if SMALL else distill.KPODConfig()\n"
    "prep = distill.prepare(cfg, seed=0)\n"
    "plt.plot(prep.weighting_losses)\n"
    "plt.xlabel('step'); plt.ylabel('L_p + α L_m'); plt.title('token weighting module')\n"
    "plt.show()"
  ),
  new_markdown_cell(
    "### Token weights over a few rationales\n\n"
    "Numbers and operators should stand out from filler. Bars are coloured by the token's "
    "role: operand digits, result digits (after an `=`), the final result (after the last "
    "`=`, the number the answer repeats), operators, other words. With the small settings "
    "the module is barely trained; `benchmarks/results/distill/kpod.md` has the full-size weights."
  ),
  new_code_cell(
    "colors = {'operand': 'tab:blue', 'result': 'tab:green', 'final result': 'tab:red',\n"
    "          'operator': 'tab:orange', 'other': 'tab:gray'}\n"
    "fig, axes = plt.subplots(3, 1, figsize=(14, 7))\n"
    "for ax, p, w in zip(axes, prep.train, prep.token_weights, strict=False):\n"
    "  words = [prep.tok.itos[t] for s in p.steps for t in prep.tok.encode(s)]\n"
    "  kinds = kpod.token_kinds(words)\n"
    "  ax.bar(range(len(w)), w, color=[colors[k] for k in kinds])\n"
    "  ax.set_xticks(range(len(w)), words, rotation=90, fontsize=8)\n"
    "  ax.set_ylim(0, 1)\n"
    "handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colors.values()]\n"
    "axes[0].legend(handles, list(colors), ncol=5, fontsize=8)\n"
    "plt.tight_layout(); plt.show()\n\n"
    "stats = kpod.weight_stats_by_kind(prep.tok, prep.train, prep.token_weights)\n"
    "print({k: round(mean, 3) for k, (mean, _, _) in stats.items()})"
  ),
  new_markdown_cell(
    "### The progressive schedule\n\n"
    "Fraction of rationale steps the student generates at each stage, and the budget "
    "$D(t)$."
  ),
  new_code_cell(
    "stages = range(cfg.num_stages + 1)\n"
    "for name, sched in [('KPOD', prep.kpod_schedule), ('uniform weights', prep.uniform_schedule)]:\n"
    "  n = sched.num_steps\n"
    "  plt.plot(stages, [np.mean((n - sched.given_steps(t)) / n) for t in stages], 'o-', label=name)\n"
    "plt.xlabel('stage (epoch)'); plt.ylabel('generated fraction of steps'); plt.legend(); plt.show()\n"
    "ts = np.linspace(0, cfg.num_stages, 50)\n"
    "plt.plot(ts, [float(distill.difficulty_budget(t, total=1.0, num_stages=cfg.num_stages)) for t in ts])\n"
    "plt.xlabel('t'); plt.ylabel('D(t) / B'); plt.show()"
  ),
  new_markdown_cell(
    "## Training the student: CoT distillation vs KPOD\n\n"
    "Both at the same budget; accuracy is greedy-decoded exact match on held-out problems."
  ),
  new_code_cell(
    "methods = ['cot', 'kpod'] if SMALL else list(distill.METHODS)\n"
    "results = {m: distill.train_method(m, prep, cfg, seed=0) for m in methods}\n"
    "for m, r in results.items():\n"
    "  plt.plot(range(1, cfg.epochs + 1), r['curve'], 'o-', label=m)\n"
    "  print(f\"{m}: in-distribution {r['accuracy']:.3f}, longer chains {r['ood_accuracy']:.3f}\")\n"
    "plt.xlabel('epoch'); plt.ylabel('exact match'); plt.legend(); plt.show()\n"
    "print(results['kpod']['sample'])"
  ),
  new_markdown_cell("## Real data: GSM8K and SVAMP loaders"),
  new_code_cell(
    "import pathlib\n\n"
    "data = pathlib.Path(os.environ.get('FIRA_JAX_DATA_DIR', '../../shared/data'))\n"
    "if (data / 'gsm8k').is_dir():\n"
    "  g = distill.load_gsm8k(data / 'gsm8k', 'test')\n"
    "  s = distill.load_svamp(data / 'svamp')\n"
    "  print(len(g), g[0].steps, g[0].answer)\n"
    "  print(len(s), s[0].question, s[0].steps, s[0].answer)\n"
    "else:\n"
    "  print('set FIRA_JAX_DATA_DIR to the folder holding gsm8k/ and svamp/')"
  ),
]


def main() -> None:
  nb = new_notebook(cells=CELLS)
  nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
  path = pathlib.Path(__file__).with_name("distill.ipynb")
  nbformat.write(nb, path)
  print(f"wrote {path}")


if __name__ == "__main__":
  main()
