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
# # Ada-DyGNN: which neighbours to update after an interaction
#
# A memory-based temporal GNN updates both endpoints of each new message and, through a Bernoulli policy per neighbour trained with self-critical REINFORCE on a local-structure stability reward, decides which of their 20 most recent neighbours to update as well. Here: the UCI messages stream (CollegeMsg) and its chronological split, noise injected into the training stream, a short training run, then the benchmark's curves: MRR against the noise ratio per policy, and how often the learned policy updates a neighbour whose interaction was injected noise.
#
# With `FIRA_JAX_NOTEBOOK_SMALL=1` (as in CI) the live run uses a prefix of the stream, or a synthetic stream when CollegeMsg is not available.
#
# *The outputs stored with this notebook come from a run with the small settings (`FIRA_JAX_NOTEBOOK_SMALL=1`, on a CPU), as in CI; a full run (the default settings) trains longer.*

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
import json
import os
import pathlib

import matplotlib.pyplot as plt
import numpy as np

import graphs
import graphs.adadygnn as ada

SMALL = os.environ.get("FIRA_JAX_NOTEBOOK_SMALL") == "1"
DATA_DIR = pathlib.Path(os.environ.get("FIRA_JAX_DATA_DIR", "data")) / "uci_msg"
try:  # outside CI the file is fetched (checksummed) from its pinned public copy
  data = ada.load_college_msg(DATA_DIR, download=not SMALL)
except FileNotFoundError:  # offline: a synthetic stream with repeated conversations
  rng = np.random.default_rng(0)
  friends = rng.integers(1, 301, (300, 3))
  src = rng.integers(1, 301, 6000)
  dst = friends[src - 1, rng.integers(0, 3, 6000)]
  keep = src != dst
  data = ada.make_temporal_data(
    src[keep], dst[keep], np.sort(rng.uniform(0, 1e6, keep.sum())), name="synthetic"
  )
split = ada.chronological_split(data)
print(data.name, len(data.stream), "events,", data.stream.num_nodes, "nodes")
print(split.split_sizes())

# %% [markdown]
# ## Noise in the training stream
#
# `insert` adds round(ρ·|E_train|) uniform fake edges at resampled training times, `delete` drops as many, `noisy_nodes` rewires the edges of round(ρ·|V_train|) nodes. Validation and test are never touched; injected edges get ids after the real ones, so the training loop can tell, per neighbour slot, whether its interaction was noise.

# %%
for kind in ada.NOISE_KINDS:
  noisy = ada.inject_noise(split, kind, 0.3, seed=0)
  print(
    f"{kind:12s} train edges {len(noisy.train):6d}  injected {int(noisy.is_noise(noisy.train.idx).sum()):5d}  "
    f"test unchanged: {np.array_equal(noisy.test.idx, split.test.idx)}"
  )

# %% [markdown]
# ## A short run: learned policy vs update-all, with 30% inserted noise
#
# In small mode on the first 3,000 events (2 epochs); otherwise the full stream (3 epochs, a few minutes on a CPU).

# %%
if SMALL:
  s = data.stream
  n = min(3000, len(s))
  run_split = ada.chronological_split(ada.make_temporal_data(s.src[:n], s.dst[:n], s.t[:n]))
  settings = dict(memory_dim=32, message_dim=16, num_neighbors=10, learning_rate=1e-3)
  epochs = 2
else:
  run_split, settings, epochs = split, {}, 3
noisy = ada.inject_noise(run_split, "insert", 0.3, seed=0)
live = {}
for policy in ("learned", "all"):
  config = ada.AdaDyGNNConfig(policy=policy, **settings)
  live[policy] = ada.train_adadygnn(noisy, config, seed=0, epochs=epochs, progress=True)
  t = live[policy]["test"]
  print(f"{policy:8s} test MRR {t['mrr']:.4f}  AP {t['ap']:.4f}")
last = live["learned"]["epochs"][-1]
print(
  f"learned policy, last epoch: updates {100 * last['noise_update_rate']:.1f}% of noise slots, "
  f"{100 * last['clean_update_rate']:.1f}% of real ones"
)

# %% [markdown]
# ## The benchmark: MRR against ρ per policy, and the policy on noise slots
#
# From `benchmarks/results/graphs/adadygnn_runs.jsonl` (UCI, see `adadygnn.md` there for the tables, seeds and protocol).

# %%
root = pathlib.Path(graphs.__file__).resolve().parent.parent
runs_file = root / "benchmarks" / "results" / "graphs" / "adadygnn_runs.jsonl"
runs = (
  [json.loads(line) for line in runs_file.read_text().splitlines()] if runs_file.exists() else []
)
print(len(runs), "runs")


def mrr(policy, noise, rho):
  noise = "none" if rho == 0 else noise
  vals = [
    r["metrics"]["transductive"]["mrr"]
    for r in runs
    if r["method"] == policy and r["settings"]["noise"] == noise and r["settings"]["rho"] == rho
  ]
  return (np.mean(vals), np.std(vals)) if vals else (np.nan, np.nan)


fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
for ax, noise in zip(axes[:2], ("insert", "delete"), strict=True):
  rhos = sorted({0.0} | {r["settings"]["rho"] for r in runs if r["settings"]["noise"] == noise})
  for policy in ada.POLICIES:
    m = np.array([mrr(policy, noise, x) for x in rhos])
    if np.isfinite(m[:, 0]).sum() > 1:
      ax.errorbar(rhos, m[:, 0], yerr=m[:, 1], marker="o", capsize=3, label=policy)
  ax.set(xlabel="ρ", ylabel="test MRR", title=f"{noise}: MRR against ρ")
  ax.legend()
rows = [
  (r["settings"]["rho"], r["epochs"][-1])
  for r in runs
  if r["method"] == "learned" and r["settings"]["noise"] == "insert"
]
if rows:
  rhos = sorted({x for x, _ in rows})
  for key, label in (
    ("noise_update_rate", "injected-noise slots"),
    ("clean_update_rate", "real slots"),
  ):
    axes[2].plot(
      rhos, [100 * np.mean([e[key] for x, e in rows if x == r]) for r in rhos], "o-", label=label
    )
  axes[2].set(xlabel="ρ (insert)", ylabel="% of slots updated", title="learned policy, last epoch")
  axes[2].legend()
plt.tight_layout()
plt.show()
