"""Training and evaluating Ada-DyGNN on a chronological split.

An epoch resets the memory, streams the training interactions in time order in batches (one
jitted ``lax.scan`` per chunk of batches; neighbour tables are built in NumPy beforehand) and
updates all parameters with Adam on ``link loss + policy loss``. After the last epoch the
validation stream continues from the training memory and the test stream from the validation
memory (new-node validation from the training memory, new-node test from the validation
memory), under two protocols:

* AUC/AP: batches of ``auc_batch_size``; each positive ``(u, i)`` and a negative ``(u, n)``
  are scored by the forward pass that then updates the memory with the batch; AUC and AP per
  batch, averaged over batches (``auc``, ``ap``), and over all scores at once (``*_global``).
* MRR/Recall@k: batches of ``batch_size``; before the batch updates the memory, each endpoint's
  partner is ranked by cosine similarity among all memory rows (:func:`ranking_metrics`), with
  the node itself in its list or not (``*_exclude_self``); averaged over batches.
"""

from __future__ import annotations

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from fira_jax.lab.metrics import progress_bar
from fira_jax.lab.seeds import key as named_key
from fira_jax.lab.seeds import np_rng, seed_int
from graphs._temporal import EventStream, NeighborIndex
from graphs.adadygnn._config import AdaDyGNNConfig
from graphs.adadygnn._data import TemporalSplit
from graphs.adadygnn._metrics import auc_ap, pair_ranks
from graphs.adadygnn._model import AdaDyGNN, Batch, forward, init_memory, link_loss

__all__ = ["train_adadygnn", "make_batches", "EVAL_SETS", "KS"]

CHUNK = 64  # batches per jitted scan
KS = (20, 50)
EVAL_SETS = ("val", "test", "new_node_val", "new_node_test")


def make_batches(
  stream: EventStream,
  index: NeighborIndex,
  split: TemporalSplit,
  config: AdaDyGNNConfig,
  batch_size: int,
  negatives: np.ndarray,
) -> tuple[Batch, np.ndarray]:
  """Stacked NumPy batches ``[n_batches padded to a multiple of CHUNK, B, ...]`` and the bool
  ``[n_batches]`` flag of batches holding events."""
  e, k = len(stream), config.num_neighbors
  nb = -(-e // batch_size)
  total = -(-nb // CHUNK) * CHUNK
  pad = total * batch_size - e

  def padded(x, dtype):
    return np.pad(np.asarray(x), [(0, pad)] + [(0, 0)] * (np.ndim(x) - 1)).astype(dtype)

  t_total = max(float(split.data.stream.t[-1]), 1.0)
  tables = []
  for nodes in (stream.src, stream.dst):
    ids, tj, eidx, mask = index.most_recent(nodes, stream.t, k)
    phi = 1.0 / (1.0 + config.gamma * (stream.t[:, None] - tj) / t_total)
    noise = split.is_noise(eidx) & mask
    tables.append(
      [
        padded(a, dt)
        for a, dt in zip(
          (ids, phi, mask, noise), (np.int32, np.float32, np.float32, np.float32), strict=True
        )
      ]
    )
  ef = split.data.edge_features
  feat_rows = np.where(stream.idx < len(ef), stream.idx, 0)  # injected edges: zero features
  shape = (total, batch_size)
  batch = Batch(
    src=padded(stream.src, np.int32).reshape(shape),
    dst=padded(stream.dst, np.int32).reshape(shape),
    neg=padded(negatives, np.int32).reshape(shape),
    mask=padded(np.ones(e), np.float32).reshape(shape),
    feat=padded(ef[feat_rows], np.float32).reshape(*shape, -1),
    **{
      name: np.stack([tab[j] for tab in tables]).reshape(2, total, batch_size, k).swapaxes(0, 1)
      for j, name in enumerate(("nbr", "phi", "nmask", "noise"))
    },
  )
  return batch, np.arange(total) < nb


def _chunks(batch: Batch, valid: np.ndarray, keys: jax.Array):
  for lo in range(0, len(valid), CHUNK):
    sl = slice(lo, lo + CHUNK)
    yield jax.tree.map(lambda a, sl=sl: a[sl], batch), keys[sl], valid[sl]


@functools.cache
def _adam(learning_rate: float) -> optax.GradientTransformation:
  return optax.adam(learning_rate)


@functools.partial(jax.jit, static_argnames=("graphdef", "config"), donate_argnums=(1, 2, 3))
def _train_chunk(graphdef, params, opt_state, memory, batch, keys, valid, config):
  tx = _adam(config.learning_rate)

  def body(carry, xs):
    params, opt_state, memory = carry
    b, key, ok = xs

    def loss_fn(params):
      model = nnx.merge(graphdef, params)
      mem, pos, neg, pol, stats = forward(model, memory, b, key, config, True)
      link = link_loss(pos, neg, b.mask)
      return link + pol, (mem, link, pol, stats)

    (_, (mem, link, pol, stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, new_opt = tx.update(grads, opt_state, params)
    new_params = optax.apply_updates(params, updates)
    pick = lambda a, b: jax.tree.map(lambda x, y: jnp.where(ok, x, y), a, b)  # noqa: E731
    carry = (pick(new_params, params), pick(new_opt, opt_state), jnp.where(ok, mem, memory))
    return carry, {"link_loss": link, "policy_loss": pol, **stats}

  (params, opt_state, memory), out = jax.lax.scan(
    body, (params, opt_state, memory), (batch, keys, valid)
  )
  return params, opt_state, memory, out


@functools.partial(jax.jit, static_argnames=("graphdef", "config", "rank"))
def _eval_chunk(graphdef, params, memory, batch, keys, valid, candidates, config, rank):
  model = nnx.merge(graphdef, params)

  def body(memory, xs):
    b, key, ok = xs
    out = {}
    if rank:
      for excl in (False, True):
        out[f"ranks_{int(excl)}"] = pair_ranks(memory, b.src, b.dst, excl, candidates)
    mem, pos, neg, _, _ = forward(model, memory, b, key, config, False)
    out.update(pos=pos, neg=neg)
    return jnp.where(ok, mem, memory), out

  return jax.lax.scan(body, memory, (batch, keys, valid))


def _epoch_stats(outs: list[dict], valid: np.ndarray) -> dict:
  """Means over the real batches (slot-weighted for policy statistics)."""
  cat = {k: np.concatenate([np.asarray(o[k]) for o in outs])[valid] for k in outs[0]}
  res = {
    "link_loss": float(cat["link_loss"].mean()),
    "policy_loss": float(cat["policy_loss"].mean()),
  }
  for side in "ui":
    res[f"reward_{side}"] = float(cat[f"reward_{side}"].mean())
    slots = max(float(cat[f"slots_{side}"].sum()), 1.0)
    for name in ("pi", "update", "entropy"):
      res[f"{name}_{side}"] = float(np.sum(cat[f"{name}_{side}"] * cat[f"slots_{side}"]) / slots)
  for kind in ("noise", "clean"):
    upd = sum(cat[f"{kind}_updates_{s}"].sum() for s in "ui")
    slots = sum(cat[f"{kind}_slots_{s}"].sum() for s in "ui")
    res[f"{kind}_update_rate"] = float(upd / slots) if slots else float("nan")
    res[f"{kind}_slots"] = int(slots)
  return res


class _Runner:
  """The state of one training run (parameters, optimiser, memory) and its compiled steps."""

  def __init__(self, split: TemporalSplit, config: AdaDyGNNConfig, seed: int):
    self.split, self.config, self.seed = split, config, seed
    model = AdaDyGNN(
      config, split.data.edge_features.shape[1], rngs=nnx.Rngs(seed_int(seed, "adadygnn/params"))
    )
    self.graphdef, self.params = nnx.split(model)
    self.opt_state = _adam(config.learning_rate).init(self.params)
    self.rows = split.num_nodes + 1
    self.candidates = np.ones(self.rows, bool)
    self.candidates[0] = not config.mask_padding
    self.train_index = NeighborIndex(split.train)
    self.full_index = NeighborIndex(split.full_stream())
    self.train_pool = np.unique(split.train.dst)
    self.neg_rng = np_rng(seed, "adadygnn/train-negatives")
    self.memory0 = init_memory(named_key(seed, "adadygnn/memory"), self.rows, config.memory_dim)
    self.memory = self.memory0

  def train_epoch(self, epoch: int, bar=None) -> dict:
    cfg, train = self.config, self.split.train
    negatives = self.neg_rng.choice(self.train_pool, len(train))
    batch, valid = make_batches(train, self.train_index, self.split, cfg, cfg.batch_size, negatives)
    keys = jax.random.split(
      jax.random.fold_in(named_key(self.seed, "adadygnn/train"), epoch), len(valid)
    )
    memory, outs = jnp.array(self.memory0), []
    for b, k, v in _chunks(batch, valid, keys):
      self.params, self.opt_state, memory, out = _train_chunk(
        self.graphdef, self.params, self.opt_state, memory, b, k, v, cfg
      )
      outs.append(out)
      if bar is not None:
        bar.update(int(b.mask.sum()))
    self.memory = memory
    return _epoch_stats(outs, valid)

  def evaluate_stream(self, memory, stream: EventStream, name: str, rank: bool):
    """Streams ``stream`` from ``memory``; returns the final memory and the metrics."""
    cfg = self.config
    pool = np.unique(stream.dst if name.startswith("new_node") else self.split.data.stream.dst)
    negatives = np_rng(0, f"adadygnn/eval-negatives/{name}").choice(pool, len(stream))
    size = cfg.batch_size if rank else cfg.auc_batch_size
    batch, valid = make_batches(stream, self.full_index, self.split, cfg, size, negatives)
    keys = jax.random.split(named_key(self.seed, f"adadygnn/eval/{name}"), len(valid))
    outs = []
    for b, k, v in _chunks(batch, valid, keys):
      memory, out = _eval_chunk(
        self.graphdef, self.params, memory, b, k, v, self.candidates, cfg, rank
      )
      outs.append(out)
    cat = {k: np.concatenate([np.asarray(o[k]) for o in outs])[valid] for k in outs[0]}
    mask = batch.mask[valid] > 0
    metrics = {}
    if rank:
      for excl, suffix in ((0, ""), (1, "_exclude_self")):
        ranks = cat[f"ranks_{excl}"].astype(np.float64)  # [nb, B, 2]
        per = [(1.0 / r[m]).mean() for r, m in zip(ranks, mask, strict=True)]
        metrics[f"mrr{suffix}"] = float(np.mean(per))
        for kk in KS:
          per = [(r[m] <= kk).mean() for r, m in zip(ranks, mask, strict=True)]
          metrics[f"recall@{kk}{suffix}"] = float(np.mean(per))
    else:
      pos, neg = cat["pos"], cat["neg"]
      per = [auc_ap(p[m], q[m]) for p, q, m in zip(pos, neg, mask, strict=True)]
      metrics["auc"], metrics["ap"] = map(float, np.mean(per, axis=0))
      metrics["auc_global"], metrics["ap_global"] = auc_ap(pos[mask], neg[mask])
    return memory, metrics

  def evaluate(self) -> dict:
    """Both protocols on validation, test and the new-node sets (see the module docstring)."""
    sp, res = self.split, {name: {} for name in EVAL_SETS}
    for rank in (True, False):
      m_val, res_val = self.evaluate_stream(self.memory, sp.val, "val", rank)
      res["val"].update(res_val)
      res["test"].update(self.evaluate_stream(m_val, sp.test, "test", rank)[1])
      res["new_node_val"].update(
        self.evaluate_stream(self.memory, sp.new_node_val, "new_node_val", rank)[1]
      )
      res["new_node_test"].update(
        self.evaluate_stream(m_val, sp.new_node_test, "new_node_test", rank)[1]
      )
    return res


def train_adadygnn(
  split: TemporalSplit,
  config: AdaDyGNNConfig,
  *,
  seed: int = 0,
  epochs: int = 1,
  progress: bool = False,
  log=None,
) -> dict:
  """Trains for ``epochs`` epochs, then evaluates (see the module docstring).

  Args:
    split: the (possibly noisy) split.
    config: the settings.
    seed: parameters, memory initialisation, negatives, dropout and actions derive from it.
    epochs: training epochs (the last epoch's model is evaluated).
    progress: show a progress bar over the training interactions.
    log: optional callable receiving each epoch's statistics dict.

  Returns:
    ``{"split_sizes", "epochs": [per-epoch statistics], "val", "test", "new_node_val",
    "new_node_test": {metric: value}, "seconds_per_epoch", "eval_seconds"}``; ``test`` is the
    transductive and ``new_node_test`` the inductive result.
  """
  if epochs < 1:
    raise ValueError(f"epochs must be >= 1, got {epochs}")
  if len(split.train) == 0:
    raise ValueError("the training stream is empty")
  runner = _Runner(split, config, seed)
  history, times = [], []
  bar = progress_bar(
    epochs * len(split.train),
    desc=f"ada-dygnn {config.policy} seed {seed}",
    disable=not progress,
    unit="edge",
  )
  for epoch in range(epochs):
    start = time.perf_counter()
    stats = runner.train_epoch(epoch, bar)
    times.append(time.perf_counter() - start)
    stats = {"epoch": epoch, **stats, "seconds": times[-1]}
    history.append(stats)
    bar.set_postfix(loss=f"{stats['link_loss']:.4f}", update=f"{stats['update_u']:.2f}")
    if log is not None:
      log(stats)
  bar.close()
  start = time.perf_counter()
  res = runner.evaluate()
  return {
    "split_sizes": split.split_sizes(),
    "epochs": history,
    **res,
    "seconds_per_epoch": float(np.median(times[1:] if len(times) > 1 else times)),
    "eval_seconds": time.perf_counter() - start,
  }
