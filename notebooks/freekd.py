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
# # FreeKD on Cora: two GCNs teaching each other in free directions
#
# Two shallow GCNs are trained together; a reinforcement-learning agent decides, per node, which network sends its soft label to the other (node-level action) and whether the sender's local structure is transferred as well (structure-level action). We compare with a single GCN, then look at the agent's decisions: per class, how often each network is chosen as the teacher, against which network is actually right on those nodes.
#
# With `FIRA_JAX_NOTEBOOK_SMALL=1` (as in CI) the runs are shortened.
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
import pathlib

import matplotlib.pyplot as plt
import numpy as np

import graphs

SMALL = os.environ.get("FIRA_JAX_NOTEBOOK_SMALL") == "1"
EPOCHS = 60 if SMALL else 300
# From $FIRA_JAX_DATA_DIR/planetoid or the cache; else fetched (checksummed) from the public
# Planetoid repository.
data = graphs.load_planetoid("cora", download=True)
print(
  data.graph.nodes.shape,
  int(data.train_mask.sum()),
  int(data.val_mask.sum()),
  int(data.test_mask.sum()),
)

# %% [markdown]
# ## A single GCN (public split), then FreeKD with two GCNs

# %%
schedule = graphs.NodeTrainConfig(epochs=EPOCHS, patience=EPOCHS)
single = graphs.train_node_classifier(data, "gcn", seed=0, train_config=schedule, progress=True)
config = graphs.FreeKDConfig(warmup=10 if SMALL else 20)
res = graphs.train_freekd(
  data, ("gcn", "gcn"), config=config, train_config=schedule, seed=0, progress=True, record_every=10
)
print(f"single GCN test acc {single.test_acc:.3f}")
print("FreeKD test acc (Phi, Psi):", [round(a, 3) for a in res.test_acc])

# %%
h = res.history
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
axes[0].plot(single.history["val_acc"], "k--", label="single GCN (val)")
for k, name in enumerate(["Phi", "Psi"]):
  axes[0].plot(h["val_acc"][:, k], label=f"FreeKD {name} (val)")
axes[0].set(xlabel="epoch", ylabel="accuracy", title="validation accuracy")
axes[0].legend()
axes[1].plot(h["share_sender"][:, 0], label="share of nodes Phi -> Psi")
axes[1].plot(h["share_structure"], label="share with structure transferred")
axes[1].axvline(config.warmup, color="gray", ls=":", label="end of warm-up")
axes[1].set(xlabel="epoch", ylim=(0, 1), title="agent decisions")
axes[1].legend()
plt.tight_layout()

# %% [markdown]
# ## Direction decisions per class, against which network is right
#
# At the last recorded epoch, per class: the share of nodes where Phi teaches Psi, over all nodes and over the nodes where only Phi (or only Psi) predicts the right label. A policy that has learned the right direction sends from Phi where only Phi is right and from Psi where only Psi is right.

# %%
snap = res.decisions[-1]
labels = np.asarray(data.labels)
phi_sends = snap["actions"] == 0
only_phi = snap["correct"][0] > snap["correct"][1]
only_psi = snap["correct"][1] > snap["correct"][0]


def share(mask):
  return [
    phi_sends[mask & (labels == c)].mean() if np.any(mask & (labels == c)) else np.nan
    for c in range(data.num_classes)
  ]


classes = np.arange(data.num_classes)
w = 0.27
plt.figure(figsize=(8, 3.5))
plt.bar(classes - w, share(np.ones_like(phi_sends)), w, label="all nodes")
plt.bar(classes, share(only_phi), w, label="nodes where only Phi is right")
plt.bar(classes + w, share(only_psi), w, label="nodes where only Psi is right")
plt.xlabel("class")
plt.ylabel("share sent Phi -> Psi")
plt.ylim(0, 1)
plt.title(f"epoch {snap['epoch']}")
plt.legend()
plt.tight_layout()
print("nodes where only Phi / only Psi is right:", only_phi.sum(), only_psi.sum())
print(
  "share Phi -> Psi over recorded epochs:",
  [round(float(np.mean(d["actions"] == 0)), 3) for d in res.decisions],
)
