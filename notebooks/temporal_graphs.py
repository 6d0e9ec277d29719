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
# # Temporal graphs: class-incremental learning on open temporal graphs
#
# Continuous-time graphs are streams of timestamped interactions `(u, v, t)`. The `graphs` package of fira-jax holds two memory-based temporal GNNs written in JAX + Flax NNX on one shared event-stream module (`graphs._temporal`: the stream, a time-sorted neighbour index, the time encoding and fixed-shape batches):
#
# - **OTGNet** (Feng et al., ICLR 2023, arXiv 2303.15015): new classes keep arriving; the model learns them one task at a time without forgetting the old ones, with a class-agnostic information bottleneck on messages between classes and replay of selected triads.
# - **Ada-DyGNN** (Li et al., arXiv 2207.10839): after each interaction a learned Bernoulli policy decides which neighbours to update, to stay robust to noisy edges (second section).
#
# Set `FIRA_JAX_NOTEBOOK_SMALL=1` for a quick run.
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

import matplotlib.pyplot as plt
import numpy as np

from graphs import otgnet

SMALL = os.environ.get("FIRA_JAX_NOTEBOOK_SMALL") == "1"
DATA = os.environ.get("FIRA_JAX_DATA_DIR", "../../shared/data")
print("small settings" if SMALL else "full settings")

# %% [markdown]
# ## OTGNet
#
# ### An open temporal graph: OTG-Synth
#
# The seeded generator draws class means, node features around them, and per task a stream of edges: triadic closures (probability `p_close`), same-class edges (`p_homo`), and edges to the other class of the task or to old classes (`p_old`). Classes arrive two per task; an edge belongs to the task of its newer endpoint. The stream's SHA-256 lets anyone check they generated the same data.

# %%
size = dict(n_per_class=20, m=4, num_features=16) if SMALL else dict(n_per_class=60, m=6)
data = otgnet.make_synth(0, n_task=3, **size)
splits = otgnet.split_tasks(data)
print(
  f"{data.stream.num_nodes} nodes, {len(data.stream)} events, "
  f"{data.n_task} tasks x {data.n_class} classes"
)
print("edges per task:", np.bincount(data.edge_task).tolist())
print("sha256", data.sha256[:16], "...")

# %% [markdown]
# ### OTGNet against fine-tuning
#
# `train_otgnet` trains task after task and fills the accuracy matrix `acc[t, k]` (accuracy on task k after training task t). `method_config` gives the baselines and ablations on the same code path: `finetune` drops the bottleneck and the replay. Average performance AP is the mean of the last row; average forgetting AF the mean drop from each old task's best accuracy to its final one.

# %%
base = otgnet.OTGNetConfig(batch_size=100, memory_dim=32, hidden_dim=32, triads_per_class=4)
epochs = 2 if SMALL else 15
res = {
  m: otgnet.train_otgnet(data, otgnet.method_config(m, base), seed=0, epochs=epochs, splits=splits)
  for m in ("otgnet", "finetune")
}
fig, axes = plt.subplots(1, 2, figsize=(9, 4))
for ax, (m, r) in zip(axes, res.items(), strict=True):
  acc = 100 * np.asarray(r["acc"], float)
  im = ax.imshow(np.ma.masked_invalid(acc), vmin=0, vmax=100, cmap="viridis")
  for (t, k), v in np.ndenumerate(acc):
    if np.isfinite(v):
      ax.text(k, t, f"{v:.0f}", ha="center", va="center", color="w")
  ax.set_title(f"{m}: AP {100 * r['ap']:.1f}, AF {100 * r['af']:.1f}")
  ax.set_xlabel("evaluated task k")
  ax.set_ylabel("after training task t")
  ax.set_xticks(range(data.n_task))
  ax.set_yticks(range(data.n_task))
fig.colorbar(im, ax=axes, label="accuracy %")
plt.show()

# %% [markdown]
# ### The selected triads
#
# After each task OTGNet scores the task's nodes by influence (gradient dot product with the mean gradient), builds closed triads (`u` linked to both ends of a same-class edge `s-d` before it) and open ones (`u` linked to `s` but never to `d`), and greedily keeps important yet diverse ones. Their edges are replayed in later tasks, and the pattern loss keeps `s, d` close and `d, u` apart in memory. Below: task 0's graph, the selected closed triads (solid) and open triads (dashed).

# %%
s = data.stream
sp = splits[0]
nodes = np.unique(np.concatenate([s.src[sp.train_edges], s.dst[sp.train_edges]]))
lab = data.node_labels
rng = np.random.default_rng(0)
angle = {v: np.pi * lab[v] + rng.uniform(-1.2, 1.2) for v in nodes}
radius = {v: rng.uniform(0.3, 1.0) for v in nodes}
xy = {v: radius[v] * np.array([np.cos(angle[v]), np.sin(angle[v])]) for v in nodes}
fig, ax = plt.subplots(figsize=(6, 6))
for e in sp.train_edges:
  a, b = xy[s.src[e]], xy[s.dst[e]]
  ax.plot([a[0], b[0]], [a[1], b[1]], color="0.85", lw=0.5, zorder=0)
pts = np.stack([xy[v] for v in nodes])
ax.scatter(pts[:, 0], pts[:, 1], c=lab[nodes], cmap="coolwarm", s=15, zorder=1)
tri = [t for t in res["otgnet"]["triads"] if t["task"] == 0 and t["real"]]
for i, t in enumerate(tri):
  sv, dv, uv = t["nodes"]
  pairs = [(sv, uv), (dv, uv), (sv, dv)] if t["kind"] == "closed" else [(sv, uv), (sv, dv)]
  style = "-" if t["kind"] == "closed" else "--"
  for a, b in pairs:
    ax.plot([xy[a][0], xy[b][0]], [xy[a][1], xy[b][1]], style, color=f"C{i % 10}", lw=2)
ax.set_title(f"task 0: {len(tri)} selected triads (colour = one triad)")
ax.axis("off")
plt.show()

# %% [markdown]
# ### Full runs
#
# `fira-jax graphs otgnet --dataset {synth,cora,citeseer} --method M --epochs E --seeds S --json out.json` runs OTGNet or a baseline (`finetune`, `joint`, `er`, `ewc`, `lwf`) or an ablation (`no_ib`, `no_triad`, `random_triads`, `importance_only`, `no_pattern_loss`); `benchmarks/graphs/otgnet_compare.py` runs the whole comparison.

# %% [markdown]
# ## Ada-DyGNN: which neighbours to update after an interaction
#
# A memory-based temporal GNN updates both endpoints of each new message and, through a Bernoulli policy per neighbour trained with self-critical REINFORCE on a local-structure stability reward, decides which of their 20 most recent neighbours to update as well. Here: the UCI messages stream (CollegeMsg) and its chronological split, noise injected into the training stream, a short training run, then the benchmark's curves: MRR against the noise ratio per policy, and how often the learned policy updates a neighbour whose interaction was injected noise. With `FIRA_JAX_NOTEBOOK_SMALL=1` (as in CI) the live run uses a prefix of the stream, or a synthetic stream when CollegeMsg is not available.
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
# ### Noise in the training stream
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
# ### A short run: learned policy vs update-all, with 30% inserted noise
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
# ### The benchmark: MRR against ρ per policy, and the policy on noise slots
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
