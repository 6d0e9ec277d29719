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
# # Distillation losses and KPOD in JAX
#
# This notebook shows the `distill` package of fira-jax: classic KD losses as pure functions, and KPOD (keypoint-based progressive chain-of-thought distillation, Feng et al., ICML 2024) end to end on generated multi-step arithmetic problems with the project's LLaMA as the student. Set `FIRA_JAX_NOTEBOOK_SMALL=1` for a quick run.
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

import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import distill
from distill import kpod

SMALL = os.environ.get("FIRA_JAX_NOTEBOOK_SMALL") == "1"
print("small settings" if SMALL else "full settings")

# %% [markdown]
# ## Hinton KD at several temperatures
#
# `kd_loss` returns $T^2\,\mathrm{KL}(\sigma_T(z_t)\,\|\,\sigma_T(z_s))$ per example.

# %%
student = jnp.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.0]])
teacher = jnp.array([[3.0, 0.5, 0.2], [0.1, 3.0, 1.0]])
for t in [1.0, 2.0, 4.0]:
  print(f"T={t}:", distill.kd_loss(student, teacher, temperature=t))

# %% [markdown]
# ## Generated multi-step problems
#
# Each rationale step restates one operation; filler phrases and a distractor sentence make some tokens irrelevant to the answer.

# %%
for p in distill.generate_problems(2, seed=0):
  print(p.question)
  for s in p.steps:
    print("  ", s)
  print("  answer:", p.answer)

# %% [markdown]
# ## KPOD pre-computations: token weights, step difficulty, schedule
#
# `prepare` generates the data, builds the student, trains the token weighting module and computes the schedules.

# %%
cfg = distill.KPODConfig.smoke() if SMALL else distill.KPODConfig()
prep = distill.prepare(cfg, seed=0)
plt.plot(prep.weighting_losses)
plt.xlabel("step")
plt.ylabel("L_p + α L_m")
plt.title("token weighting module")
plt.show()

# %% [markdown]
# ### Token weights over a few rationales
#
# Numbers and operators should stand out from filler. Bars are coloured by the token's role: operand digits, result digits (after an `=`), the final result (after the last `=`, the number the answer repeats), operators, other words. With the small settings the module is barely trained; `benchmarks/results/distill/kpod.md` has the full-size weights.

# %%
colors = {
  "operand": "tab:blue",
  "result": "tab:green",
  "final result": "tab:red",
  "operator": "tab:orange",
  "other": "tab:gray",
}
fig, axes = plt.subplots(3, 1, figsize=(14, 7))
for ax, p, w in zip(axes, prep.train, prep.token_weights, strict=False):
  words = [prep.tok.itos[t] for s in p.steps for t in prep.tok.encode(s)]
  kinds = kpod.token_kinds(words)
  ax.bar(range(len(w)), w, color=[colors[k] for k in kinds])
  ax.set_xticks(range(len(w)), words, rotation=90, fontsize=8)
  ax.set_ylim(0, 1)
handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colors.values()]
axes[0].legend(handles, list(colors), ncol=5, fontsize=8)
plt.tight_layout()
plt.show()

stats = kpod.weight_stats_by_kind(prep.tok, prep.train, prep.token_weights)
print({k: round(mean, 3) for k, (mean, _, _) in stats.items()})

# %% [markdown]
# ### The progressive schedule
#
# Fraction of rationale steps the student generates at each stage, and the budget $D(t)$.

# %%
stages = range(cfg.num_stages + 1)
for name, sched in [("KPOD", prep.kpod_schedule), ("uniform weights", prep.uniform_schedule)]:
  n = sched.num_steps
  plt.plot(stages, [np.mean((n - sched.given_steps(t)) / n) for t in stages], "o-", label=name)
plt.xlabel("stage (epoch)")
plt.ylabel("generated fraction of steps")
plt.legend()
plt.show()
ts = np.linspace(0, cfg.num_stages, 50)
plt.plot(
  ts, [float(distill.difficulty_budget(t, total=1.0, num_stages=cfg.num_stages)) for t in ts]
)
plt.xlabel("t")
plt.ylabel("D(t) / B")
plt.show()

# %% [markdown]
# ## Training the student: CoT distillation vs KPOD
#
# Both at the same budget; accuracy is greedy-decoded exact match on held-out problems.

# %%
methods = ["cot", "kpod"] if SMALL else list(distill.METHODS)
results = {m: distill.train_method(m, prep, cfg, seed=0) for m in methods}
for m, r in results.items():
  plt.plot(range(1, cfg.epochs + 1), r["curve"], "o-", label=m)
  print(f"{m}: in-distribution {r['accuracy']:.3f}, longer chains {r['ood_accuracy']:.3f}")
plt.xlabel("epoch")
plt.ylabel("exact match")
plt.legend()
plt.show()
print(results["kpod"]["sample"])

# %% [markdown]
# ## Real data: GSM8K and SVAMP loaders

# %%
import pathlib

# From $FIRA_JAX_DATA_DIR/gsm8k (and /svamp) or the cache; else fetched (checksummed) from the
# canonical repositories.
try:
  g = distill.load_gsm8k(None, "test", download=True)
  s = distill.load_svamp(None, download=True)
  print(len(g), g[0].steps, g[0].answer)
  print(len(s), s[0].question, s[0].steps, s[0].answer)
except FileNotFoundError as e:
  print(
    f"offline and not on disk ({e}); set FIRA_JAX_DATA_DIR to the folder holding gsm8k/ and svamp/"
  )
