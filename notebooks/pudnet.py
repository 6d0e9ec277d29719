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
# # PudNet: ConvNet parameters for unseen image data in one forward pass
#
# The `hypernet` package of fira-jax reimplements PudNet (Wang et al., IEEE TIP 2024, arXiv 2310.11862) in JAX + Flax NNX. A hypernetwork reads a small labelled support set of a new k-way sub-dataset and writes all the parameters of a ConvNet for it. Here we meta-train a small PudNet on MNIST sub-datasets, predict a network for unseen test images, compare it with training from scratch, and look at the predicted filters. Set `FIRA_JAX_NOTEBOOK_SMALL=1` for a quick run.
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
import matplotlib.pyplot as plt
import numpy as np

import hypernet

SMALL = os.environ.get("FIRA_JAX_NOTEBOOK_SMALL") == "1"
print("small settings" if SMALL else "full settings")

# %% [markdown]
# ## Data and sub-datasets
#
# `load_mnist(download=True)` reads `mnist/mnist.npz` under the data folder (`$FIRA_JAX_DATA_DIR`) or the cache, and otherwise downloads MNIST from its canonical source once (SHA-256 checked; `hypernet.load_tfds('mnist')` is the TFDS route). Meta-training episodes are 5-way sub-datasets of the training split with permuted labels; evaluation sub-datasets come from the test split.

# %%
data = hypernet.load_mnist(download=True)
small = dict(d=16, h=2, meta_batch=2, meta_steps=20, n_train=20, n_test=10, log_every=5)
cfg = (
  hypernet.PudNetConfig(**small)
  if SMALL
  else hypernet.PudNetConfig(meta_steps=300, meta_batch=4, log_every=25)
)
train_pool = hypernet.make_pool(data.train, mean=data.mean, std=data.std)
test_pool = hypernet.make_pool(data.test, mean=data.mean, std=data.std)
ep = hypernet.sample_episode(
  test_pool, jax.random.key(0), k=cfg.k, n_train=cfg.n_train, n_test=cfg.n_test
)
fig, axes = plt.subplots(1, cfg.k, figsize=(2 * cfg.k, 2))
for j, ax in enumerate(axes):
  ax.imshow(ep.train[j, 0, ..., 0], cmap="gray")
  ax.axis("off")
  ax.set_title(f"label {j} = digit {int(ep.classes[j])}")
plt.show()

# %% [markdown]
# ## Meta-training
#
# Each step generates a network per episode from its support set and back-propagates the cross-entropy of that network on the episode's query images into the hypernetwork.

# %%
res = hypernet.meta_train(cfg, seed=0, pool=train_pool)
model = res.model
steps = [h["step"] for h in res.history]
plt.plot(steps, [h["loss"] for h in res.history], "o-")
plt.xlabel("meta-step")
plt.ylabel("query cross-entropy")
plt.show()

# %% [markdown]
# ## Predict a ConvNet for an unseen sub-dataset
#
# `predict` is one jitted forward pass: `(params, state)` for Net-A, where `state` holds the support set's batch-norm statistics.

# %%
sx, sy = hypernet.flatten(ep.train[:, : cfg.n_support])
tx, ty = hypernet.flatten(ep.test)
params, state = hypernet.predict(model, sx, sy)
logits, _ = model.target.apply(params, state, tx)
pudnet_acc = float((logits.argmax(-1) == ty).mean())
print(f"PudNet accuracy on {len(ty)} held-out images: {pudnet_acc:.3f} (chance {1 / cfg.k:.2f})")

# %% [markdown]
# ## Against training from scratch
#
# Net-A from He initialisation, Adam lr 1e-3, batch 64, on the sub-dataset's training images; accuracy after every epoch, with the same held-out images.

# %%
epochs = 5 if SMALL else 30
spec = hypernet.EvalSpec(
  test_pool,
  jax.random.key(0),
  num=1,
  k=cfg.k,
  n_support=cfg.n_support,
  n_train=cfg.n_train,
  n_test=cfg.n_test,
)
scratch = hypernet.train_curves(
  model.target, spec, jax.random.key(1), epochs=epochs, batch=64, lr=1e-3
)[0]
steps_per_epoch = int(np.ceil(cfg.k * cfg.n_train / 64))
x = steps_per_epoch * np.arange(1, epochs + 1)
plt.plot(x, scratch, "o-", label="scratch")
plt.axhline(
  float(hypernet.pudnet_accuracy(model, spec)[0]), color="tab:red", label="PudNet (0 steps)"
)
plt.xlabel("Adam steps on the sub-dataset")
plt.ylabel("held-out accuracy")
plt.legend()
plt.show()

# %% [markdown]
# ## Predicted first-layer filters

# %%
w = np.asarray(params["kernels"]["conv1"])[:, :, 0, :]  # (3, 3, 32)
fig, axes = plt.subplots(4, 8, figsize=(8, 4))
for i, ax in enumerate(axes.flat):
  ax.imshow(w[:, :, i], cmap="RdBu")
  ax.axis("off")
plt.suptitle("conv1 filters predicted for this sub-dataset")
plt.show()
