"""One PudNet experiment per seed: data → meta-training → evaluation with baselines and timings."""

from __future__ import annotations

import dataclasses
import functools
import math
import os

import jax
import numpy as np

from fira_jax.lab import seeds
from hypernet._baselines import (
  EvalSpec,
  pudnet_accuracy,
  random_accuracy,
  timed,
  train_curve,
  train_curves,
)
from hypernet._convnet import get_target
from hypernet._data import Splits, load_dataset
from hypernet._pudnet import _predict
from hypernet._tasks import flatten, make_pool
from hypernet._train import build_pudnet, meta_train
from hypernet.config import PudNetConfig

__all__ = ["Experiment"]


def _classes(cfg: PudNetConfig) -> tuple[list[int], list[int]]:
  if cfg.setting == "intra-disjoint":
    return list(range(6)), list(range(6, 10))
  return list(range(10)), list(range(10))


@functools.partial(jax.jit, static_argnames=("target", "n_support", "epochs", "batch", "lr"))
def _one_scratch_run(target, params, *, ep, key, n_support, epochs, batch, lr):
  """One full scratch run on one sub-dataset (compiled once per shape, timed)."""
  return train_curve(
    target, params, ep, key, n_support=n_support, epochs=epochs, batch=batch, lr=lr
  )


class Experiment:
  """Loads the data of ``cfg`` once; :meth:`run` meta-trains and evaluates one seed.

  Scratch and random baselines do not depend on the meta-training seed: they are computed once
  (on the evaluation sub-datasets fixed by ``cfg.eval_seed``) and reported with every seed.
  """

  def __init__(
    self, cfg: PudNetConfig, data_dir: str | os.PathLike | None, *, data: Splits | None = None
  ):
    self.cfg = cfg
    data = data if data is not None else load_dataset(cfg.dataset, data_dir)
    ev = (
      data
      if cfg.eval_dataset == cfg.dataset
      else load_dataset(cfg.eval_dataset, data_dir, seed=cfg.eval_seed)
    )
    tr_cls, ev_cls = _classes(cfg)
    k = cfg.way
    self.train_pool = make_pool(
      data.train,
      classes=tr_cls,
      mean=data.mean,
      std=data.std,
      k=k,
      per_class=cfg.n_support + cfg.n_query,
    )
    # Inter-dataset digits are small: draw evaluation tasks from both halves.
    ev_set = ev.test
    if cfg.eval_dataset.endswith("digits"):
      ev_set = ev.train._replace(
        x=np.concatenate([ev.train.x, ev.test.x]), y=np.concatenate([ev.train.y, ev.test.y])
      )
    n_tr, n_te = cfg.n_train, cfg.n_test
    if cfg.eval_dataset.endswith("digits"):
      n_tr, n_te = min(n_tr, 80), min(n_te, 80)
    self.eval_pool = make_pool(
      ev_set, classes=ev_cls, mean=data.mean, std=data.std, k=k, per_class=n_tr + n_te
    )
    if cfg.eval_pool_per_class:
      if cfg.eval_pool_per_class < n_tr + n_te:
        raise ValueError(
          f"eval_pool_per_class ({cfg.eval_pool_per_class}) must be >= n_train + n_test "
          f"({n_tr + n_te})"
        )
      imgs = self.eval_pool.images[:, : cfg.eval_pool_per_class]
      self.eval_pool = self.eval_pool._replace(images=imgs)
    self.spec = EvalSpec(
      self.eval_pool, seeds.key(cfg.eval_seed, "eval-tasks"), num=cfg.num_eval_tasks, k=k,
      n_support=cfg.n_support, n_train=n_tr, n_test=n_te, permute=cfg.head != "canonical_fc",
    )  # fmt: skip
    self._baseline = None

  def _map_batch(self) -> int | None:
    return self.spec.num if self.cfg.episode_map == "vmap" else None

  def settings(self) -> dict:
    cfg = self.cfg
    return {
      **dataclasses.asdict(cfg), "eval_dataset": cfg.eval_dataset, "target_name": cfg.target_name,
      "way": cfg.way, "n_train_eval": self.spec.n_train, "n_test_eval": self.spec.n_test,
    }  # fmt: skip

  def baselines(self) -> dict:
    """random and scratch accuracy (per task, scratch per epoch) and the scratch wall time."""
    if self._baseline is None:
      cfg = self.cfg
      plain = get_target(cfg.target_name, norm="none" if cfg.target_norm == "none" else "batch")
      init_key = seeds.key(cfg.eval_seed, "baseline-init")
      rand = np.asarray(random_accuracy(plain, self.spec, init_key))
      curves = np.asarray(
        train_curves(
          plain,
          self.spec,
          init_key,
          epochs=cfg.scratch_epochs,
          batch=cfg.scratch_batch,
          lr=cfg.scratch_lr,
          map_batch=self._map_batch(),
        )
      )
      ep = self.spec.episode(0)
      params = plain.init(init_key, self.spec.k)
      run = functools.partial(
        _one_scratch_run, plain, ep=ep, key=init_key, n_support=cfg.n_support,
        epochs=cfg.scratch_epochs, batch=cfg.scratch_batch, lr=cfg.scratch_lr,
      )  # fmt: skip
      train_s, train_compile = timed(run, params, repeats=1)  # one full run is long enough
      self._baseline = {
        "random": rand,
        "scratch": curves,
        "train_seconds": train_s,
        "train_compile_seconds": train_compile,
      }
    return self._baseline

  def set_baselines(self, baseline: dict) -> None:
    """Uses ``baseline`` (a :meth:`baselines` result, e.g. saved by an earlier process for
    the same evaluation settings) instead of recomputing it: random and scratch accuracy do
    not depend on the hypernetwork or its meta-training seed."""
    missing = {"random", "scratch", "train_seconds", "train_compile_seconds"} - set(baseline)
    if missing:
      raise ValueError(f"baseline: missing {sorted(missing)}")
    if np.shape(baseline["random"]) != (self.spec.num,) or np.shape(baseline["scratch"]) != (
      self.spec.num,
      self.cfg.scratch_epochs,
    ):
      raise ValueError(
        f"baseline: expected random ({self.spec.num},) and scratch ({self.spec.num}, "
        f"{self.cfg.scratch_epochs}), got {np.shape(baseline['random'])} and "
        f"{np.shape(baseline['scratch'])}"
      )
    self._baseline = {
      **baseline,
      "random": np.asarray(baseline["random"], np.float32),  # as computed: means agree
      "scratch": np.asarray(baseline["scratch"], np.float32),
    }

  def time_predict(self, model) -> tuple[float, float]:
    """Seconds of one ``predict`` by ``model`` on the support set of evaluation sub-dataset
    0 after compilation (median of ``cfg.timing_repeats``), and of its compilation."""
    sx, sy = flatten(self.spec.episode(0).train[:, : self.cfg.n_support])
    return timed(_predict, model, sx, sy, repeats=self.cfg.timing_repeats)

  def report_epochs(self) -> list[int]:
    """The scratch epochs reported: 1, 5, 20 and ``cfg.scratch_epochs`` (those not above it)."""
    n = self.cfg.scratch_epochs
    return sorted({e for e in (1, 5, 20) if e <= n} | {n})

  def baseline_metrics(self, pudnet_acc: float, predict_seconds: float) -> dict:
    """The metrics that depend on the hypernetwork only through its mean accuracy
    ``pudnet_acc`` and its predict time: random and scratch accuracy (at
    :meth:`report_epochs`), the scratch curve, the scratch steps needed to reach
    ``pudnet_acc``, the scratch wall time and the speed-up ``train_seconds /
    predict_seconds``. Computes :meth:`baselines` if needed."""
    b = self.baselines()
    cfg = self.cfg
    spe = math.ceil(cfg.way * self.spec.n_train / cfg.scratch_batch)
    curve = b["scratch"].mean(0)
    match = np.flatnonzero(curve >= pudnet_acc)
    return dict(
      random_acc=float(b["random"].mean()), random_task_std=float(b["random"].std()),
      scratch_acc={str(e): float(b["scratch"][:, e - 1].mean()) for e in self.report_epochs()},
      scratch_task_std={
        str(e): float(b["scratch"][:, e - 1].std()) for e in self.report_epochs()
      },
      scratch_curve=curve.tolist(), scratch_steps_per_epoch=spe,
      scratch_steps_to_match=int((match[0] + 1) * spe) if match.size else None,
      train_seconds=b["train_seconds"], train_compile_seconds=b["train_compile_seconds"],
      speedup=b["train_seconds"] / predict_seconds,
    )  # fmt: skip

  def run(self, seed: int, *, out_dir=None, progress: bool = False) -> dict:
    """Meta-trains seed ``seed`` and returns its metrics (accuracies are means over the
    evaluation sub-datasets; ``*_task_std`` their std).

    When meta-training stopped early (a signal after checkpointing, or too many non-finite
    steps) nothing is evaluated: the metrics are ``{"stopped", "steps_done",
    "meta_skipped_steps"}``."""
    cfg = self.cfg
    model = build_pudnet(cfg, seed)
    res = meta_train(cfg, seed, self.train_pool, model=model, out_dir=out_dir, progress=progress)
    if res.stopped:
      return {
        "stopped": res.stopped,
        "steps_done": res.steps_done,
        "meta_skipped_steps": res.skipped_steps,
      }
    return self.evaluate(seed, res)

  def evaluate(self, seed: int, res) -> dict:
    """The metrics of a meta-trained :class:`~hypernet.MetaTrainResult` ``res`` of seed
    ``seed`` on this experiment's evaluation sub-datasets (with the baselines when
    ``cfg.baselines``)."""
    cfg = self.cfg
    model = res.model
    acc = np.asarray(pudnet_accuracy(model, self.spec))
    predict_s, predict_compile = self.time_predict(model)
    metrics = {
      "pudnet_acc": float(acc.mean()), "pudnet_task_std": float(acc.std()),
      "predict_seconds": predict_s, "predict_compile_seconds": predict_compile,
      "meta_train_seconds": res.seconds, "meta_history": res.history,
      "meta_skipped_steps": res.skipped_steps,
      "meta_loss_first": res.history[0]["loss"] if res.history else None,
      "meta_loss_last": res.history[-1]["loss"] if res.history else None,
    }  # fmt: skip
    if cfg.baselines:
      ft = np.asarray(
        train_curves(
          model,
          self.spec,
          seeds.key(seed, "finetune"),
          epochs=cfg.finetune_epochs,
          batch=cfg.scratch_batch,
          lr=cfg.scratch_lr,
          map_batch=self._map_batch(),
        )
      )
      ft_epochs = sorted({1, cfg.finetune_epochs})
      metrics.update(
        self.baseline_metrics(float(acc.mean()), predict_s),
        finetune_acc={str(e): float(ft[:, e - 1].mean()) for e in ft_epochs},
        finetune_task_std={str(e): float(ft[:, e - 1].std()) for e in ft_epochs},
      )
    return metrics
