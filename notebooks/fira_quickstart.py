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
# # Fira quick start: pre-train a tiny LLaMA with AdamW, GaLore and Fira
#
# [Fira](https://arxiv.org/abs/2410.01623) keeps the optimizer state of a low-rank method (Adam
# moments of rank *r*) but still trains with the full-rank gradient: the part of the gradient the
# projection throws away is scaled by how much Adam scaled the low-rank part, and a *norm-growth
# limiter* stops that residual from spiking. This notebook
#
# 1. chains `fira_jax.fira` into an ordinary optax pipeline,
# 2. trains a tiny LLaMA (Flax NNX) with AdamW, GaLore and Fira on the same data and plots the curves,
# 3. shows the growth limiter taming a gradient spike.
#
# It runs on a CPU (Colab included) in a few minutes; set `FIRA_JAX_NOTEBOOK_SMALL=1` for a
# one-minute version.
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
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax
from flax import nnx

import fira_jax
from fira_jax.data import BatchIterator, prepare_data, tinyshakespeare_path
from fira_jax.models import Llama, get_config
from fira_jax.train import FlatModel, lr_schedule, make_train_step, projected_dimension_numbers

SMALL = os.environ.get("FIRA_JAX_NOTEBOOK_SMALL") == "1"
MODEL, STEPS, BATCH, SEQ = ("smoke", 40, 8, 64) if SMALL else ("llama_tiny", 300, 16, 128)
# Tiny Shakespeare from $FIRA_JAX_DATA_DIR/tinyshakespeare, the cache, or downloaded
# (checksummed); offline without it, the Python standard library's sources.
try:
  DATA = f"text:{tinyshakespeare_path(download=True)}"
except FileNotFoundError:
  DATA = "stdlib"
print(jax.devices(), MODEL, STEPS, DATA)

# %% [markdown]
# ## Data and model
#
# `prepare_data` reads the source, splits documents deterministically into train/validation,
# trains a byte-level BPE tokenizer on the training split and packs the token stream into
# windows of `SEQ + 1` tokens.

# %%
data = prepare_data(DATA, seq_len=SEQ, tokenizer="bpe", vocab_size=512 if SMALL else 2048)
config = get_config(MODEL, vocab_size=data.tokenizer.vocab_size, max_seq_len=SEQ)
print(data.train.shape, data.val.shape, f"{config.num_params():,} parameters")
print(repr(data.tokenizer.decode(data.train[0][:40])))

# %% [markdown]
# ## Fira in an optax pipeline
#
# The model is split into a flat `{name: array}` dict of parameters. Fira projects the attention
# and MLP kernels (`projected_dimension_numbers` marks them with
# `GaLoreDimensionNumbers(reduction_axis=0, output_axis=1)`); embeddings, norms and the head get
# `None` and take plain AdamW inside the same transform. Everything else is ordinary optax:
# gradient clipping in front, a warm-up + cosine schedule.

# %%
rank = config.d_model // 4
schedule = lr_schedule(0.01, STEPS, STEPS // 10)
params0 = FlatModel(Llama(config, rngs=nnx.Rngs(0))).params
dims = projected_dimension_numbers(params0)
print(sum(d is not None for d in dims.values()), "projected matrices of", len(dims), "leaves")

optimizers = {
  "adamw": optax.adamw(lr_schedule(1e-3, STEPS, STEPS // 10), eps=1e-6),
  "galore": fira_jax.galore(schedule, rank, scale=0.25, weight_dimension_numbers=dims),
  "fira": optax.chain(
    optax.clip_by_global_norm(1.0),
    fira_jax.fira(schedule, rank, alpha=0.25, weight_dimension_numbers=dims),
  ),
}
for name, tx in optimizers.items():
  kib = fira_jax.optimizer_state_bytes(tx, params0) / 2**10
  print(f"{name:7s} optimizer state: {kib:8.1f} KiB")


# %% [markdown]
# ## Train the same model with each optimizer
#
# Same initialisation, same batches; the train step is one `jax.jit` with donated buffers.


# %%
def run(tx, steps=STEPS):
  flat = FlatModel(Llama(config, rngs=nnx.Rngs(0)))
  params, opt_state = flat.params, tx.init(flat.params)
  step = make_train_step(flat, tx)
  batches = BatchIterator(data.train, BATCH, seed=0)
  losses, start = [], time.perf_counter()
  for _ in range(steps):
    params, opt_state, metrics = step(params, opt_state, flat.frozen, jnp.asarray(next(batches)))
    losses.append(float(metrics["loss"]))
  model = flat.merge(params, flat.frozen)
  val = jnp.asarray(data.val[: 4 * BATCH])
  logits = model(val[:, :-1])
  val_loss = float(optax.softmax_cross_entropy_with_integer_labels(logits, val[:, 1:]).mean())
  return np.array(losses), val_loss, time.perf_counter() - start


results = {name: run(tx) for name, tx in optimizers.items()}
for name, (losses, val_loss, seconds) in results.items():
  print(
    f"{name:7s} final train loss {losses[-10:].mean():.3f}  "
    f"val perplexity {np.exp(val_loss):8.2f}  ({seconds:.0f} s)"
  )

# %%
fig, ax = plt.subplots(figsize=(7, 4))
k = 5
for name, (losses, _, _) in results.items():
  ax.plot(np.arange(k, len(losses) + 1), np.convolve(losses, np.ones(k) / k, "valid"), label=name)
ax.set(xlabel="step", ylabel="training loss", title=f"{MODEL}, rank {rank}")
ax.grid(alpha=0.3)
ax.legend()
plt.show()

# %% [markdown]
# ## The growth limiter tames a gradient spike
#
# `fira_jax.limit_norm_growth(gamma)` lets an update's norm grow by at most a factor γ per
# step; it is one of Fira's pieces but works on any update tree. Here a stream of updates of
# norm ≈ 1 gets a 50× spike at step 30: the limiter lets the norm climb by at most 1 % per step,
# so the spike never reaches the weights, and the stream recovers right after it.

# %%
limiter = fira_jax.limit_norm_growth(1.01)
state = limiter.init({"w": jnp.zeros((64, 32))})
raw, limited = [], []
for t in range(80):
  g = jax.random.normal(jax.random.key(t), (64, 32)) / np.sqrt(64 * 32)
  g = g * (50.0 if t == 30 else 1.0)
  out, state = limiter.update({"w": g}, state)
  raw.append(float(jnp.linalg.norm(g)))
  limited.append(float(jnp.linalg.norm(out["w"])))
print(f"step 30: raw norm {raw[30]:.1f}, after the limiter {limited[30]:.3f}")

fig, ax = plt.subplots(figsize=(7, 3.5))
ax.semilogy(raw, label="update norm")
ax.semilogy(limited, label="after limit_norm_growth(1.01)")
ax.set(xlabel="step", ylabel="norm")
ax.legend()
plt.show()

# %% [markdown]
# ## From the command line
#
# The same comparison at a larger size, with checkpoints, resume, validation perplexity and
# `metrics.jsonl`, is one command per optimizer:
#
# ```bash
# fira-jax train --model llama_tiny --optimizer fira --steps 200 --out runs/fira
# fira-jax train --model llama_tiny --optimizer adamw --steps 200 --out runs/adamw
# fira-jax plot runs/fira runs/adamw --out loss.png
# ```
