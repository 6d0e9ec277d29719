"""Meta-training on preemptible machines: SIGTERM → checkpoint of the meta-step in flight →
exit 75 → exact resume; a corrupt newest checkpoint falls back; non-finite steps are skipped."""

import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from flax import nnx

from fira_jax.lab.preemption import EXIT_PREEMPTED
from hypernet import Experiment, PudNetConfig, load_mnist, make_pool, meta_train

FLAGS = {
  "k": 2, "n_support": 2, "n_query": 2, "meta_batch": 1, "d": 8, "h": 2, "n_train": 4,
  "n_test": 2, "num_eval_tasks": 1, "meta_steps": 2000, "log_every": 1000,
  "checkpoint_every": 5, "baselines": False,
}  # fmt: skip
CFG = PudNetConfig.smoke(**FLAGS)


def _params(model):
  return nnx.state(model, nnx.Param)


def _assert_equal(a, b):
  jax.tree.map(np.testing.assert_array_equal, _params(a), _params(b))


@pytest.mark.slow
def test_sigterm_checkpoints_the_meta_step_and_resumes_exactly(shared_data_dir, tmp_path):
  out = tmp_path / "run"
  argv = ["hypernet", "pudnet", "--data-dir", str(shared_data_dir), "--out", str(out)]
  argv += ["--smoke", "--no-progress"]
  for name, value in FLAGS.items():
    flag = f"--{name.replace('_', '-')}"
    argv += [flag, str(value)] if not isinstance(value, bool) else [f"--no-{flag[2:]}"]
  code = "import sys; from fira_jax.lab.cli import main; sys.exit(main(sys.argv[1:]))"
  env = {**os.environ, "JAX_PLATFORMS": "cpu"}  # XLA_FLAGS as here: the same numerics
  proc = subprocess.Popen(
    [sys.executable, "-c", code, *argv], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    text=True,
  )  # fmt: skip
  ckpts, end = out / "seed0" / "checkpoints", time.monotonic() + 300

  def steps():  # the committed checkpoints (the newest two are kept)
    return [int(p.name) for p in ckpts.iterdir() if p.name.isdigit()] if ckpts.is_dir() else []

  while not steps():  # a periodic checkpoint: the loop is running
    assert proc.poll() is None and time.monotonic() < end, proc.communicate()
    time.sleep(0.02)
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=60)
  assert proc.returncode == EXIT_PREEMPTED, err
  assert "SIGTERM received" in err and "run the same command again to resume" in err
  stopped = max(steps())
  assert 5 <= stopped < CFG.meta_steps
  # Resuming in-process from the signal's checkpoint equals an uninterrupted run.
  pool = Experiment(CFG, shared_data_dir).train_pool
  resumed = meta_train(CFG, 0, pool, steps=stopped + 2, out_dir=out / "seed0")
  assert resumed.start_step == stopped and resumed.steps_done == stopped + 2
  full = meta_train(CFG, 0, pool, steps=stopped + 2)
  _assert_equal(resumed.model, full.model)


@pytest.fixture(scope="module")
def pool(dataset_dir):
  d = load_mnist(dataset_dir("mnist").parent)
  return make_pool(d.train, mean=d.mean, std=d.std, k=2)


def test_corrupt_newest_checkpoint_falls_back_and_resumes_exactly(pool, tmp_path, capsys):
  cfg = PudNetConfig.smoke(**{**FLAGS, "checkpoint_every": 2})
  meta_train(cfg, 0, pool, steps=4, out_dir=tmp_path)
  for f in (tmp_path / "checkpoints" / "4" / "state").rglob("*"):
    if f.is_file() and "/d/" in str(f):
      f.write_bytes(bytes(b ^ 0xFF for b in f.read_bytes()))
  resumed = meta_train(cfg, 0, pool, steps=6, out_dir=tmp_path)
  err = capsys.readouterr().err
  assert err.count("warning:") == 1 and "falling back to step 2" in err
  assert resumed.start_step == 2
  _assert_equal(resumed.model, meta_train(cfg, 0, pool, steps=6).model)


def test_non_finite_meta_steps_are_skipped_then_stop(pool):
  bad = pool._replace(std=pool.std * 0.0)  # x / 0: every meta-loss is nan
  cfg = PudNetConfig.smoke(**{**FLAGS, "max_bad_steps": 3, "log_every": 1})
  res = meta_train(cfg, 0, bad, steps=10)
  assert res.stopped == "non-finite" and res.skipped_steps == 3 and res.steps_done == 3
  from hypernet import build_pudnet

  _assert_equal(res.model, build_pudnet(cfg, 0))  # skipped steps change nothing
