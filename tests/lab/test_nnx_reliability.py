"""NNXTrainer on preemptible machines: SIGTERM → checkpoint of the current step → exact resume;
a corrupt newest checkpoint falls back; non-finite steps are skipped and counted."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from fira_jax.lab import NNXTrainer
from fira_jax.lab.checkpoint import Checkpointer, CheckpointError
from fira_jax.lab.preemption import EXIT_PREEMPTED

SCRIPT = textwrap.dedent(
  """
  import sys, time
  import jax, jax.numpy as jnp, numpy as np, optax
  from flax import nnx
  from fira_jax.lab import NNXTrainer
  from fira_jax.lab.checkpoint import Checkpointer
  from fira_jax.lab.preemption import EXIT_PREEMPTED

  def loss_fn(model, batch, key):
    x, y = batch
    return jnp.mean((model(x) - y) ** 2), {}

  out, delay = sys.argv[1], float(sys.argv[2])
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(16, 3)), jnp.float32)
  batch = (x, x @ jnp.asarray([[1.0], [-2.0], [0.5]]))
  trainer = NNXTrainer(nnx.Linear(3, 1, rngs=nnx.Rngs(0)), optax.adam(0.05), loss_fn)
  ckpt = Checkpointer(out)
  restored = trainer.restore_checkpoint(ckpt)
  start = 0 if restored is None else restored.step

  def batches():
    while True:
      time.sleep(delay)
      yield batch

  res = trainer.fit(batches(), steps=30, key=jax.random.key(0), start_step=start,
                    checkpointer=ckpt, checkpoint_every=10)
  ckpt.close()
  np.save(out + "/kernel.npy", np.asarray(trainer.model.kernel[...]))
  print("stopped", res.stopped, res.steps_done, flush=True)
  sys.exit(EXIT_PREEMPTED if res.stopped else 0)
  """
)


def _run(tmp_path, out, delay, *, wait=True):
  script = tmp_path / "fit.py"
  script.write_text(SCRIPT)
  env = {**os.environ, "JAX_PLATFORMS": "cpu"}
  cmd = [sys.executable, str(script), str(out), str(delay)]
  proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  if wait:
    proc.communicate(timeout=240)
  return proc


@pytest.mark.slow
def test_fit_sigterm_checkpoints_and_resumes_exactly(tmp_path):
  full = tmp_path / "full"
  assert _run(tmp_path, full, 0.0).returncode == 0
  cut = tmp_path / "cut"
  proc = _run(tmp_path, cut, 0.1, wait=False)
  end = time.monotonic() + 240
  while not (cut / "checkpoints" / "10").is_dir():  # a periodic checkpoint, then stop
    assert proc.poll() is None and time.monotonic() < end, proc.communicate()
    time.sleep(0.01)
  proc.send_signal(signal.SIGTERM)
  out, err = proc.communicate(timeout=120)
  assert proc.returncode == EXIT_PREEMPTED, err
  stopped = int(out.split()[-1])
  assert 10 <= stopped < 30 and (cut / "checkpoints" / str(stopped)).is_dir()
  assert "SIGTERM received" in err
  assert _run(tmp_path, cut, 0.0).returncode == 0
  np.testing.assert_array_equal(np.load(cut / "kernel.npy"), np.load(full / "kernel.npy"))


def _loss(model, batch, key):
  x, y = batch
  return jnp.mean((model(x) - y) ** 2), {}


def _batch(poison=False):
  x = jnp.ones((4, 3)) * (jnp.nan if poison else 1.0)
  return x, jnp.zeros((4, 1))


def test_corrupt_newest_checkpoint_falls_back(tmp_path, capsys):
  trainer = NNXTrainer(nnx.Linear(3, 1, rngs=nnx.Rngs(0)), optax.sgd(0.1), _loss)
  ckpt = Checkpointer(tmp_path)
  trainer.fit([_batch()] * 4, steps=4, key=jax.random.key(0), checkpointer=ckpt, checkpoint_every=2)
  kernel_at_2 = None
  ckpt.close()
  for f in (tmp_path / "checkpoints" / "4" / "state").rglob("*"):
    if f.is_file() and "/d/" in str(f):
      b = bytearray(f.read_bytes())
      b[len(b) // 2 :] = bytes(x ^ 0xFF for x in b[len(b) // 2 :])
      f.write_bytes(bytes(b))
  fresh = NNXTrainer(nnx.Linear(3, 1, rngs=nnx.Rngs(1)), optax.sgd(0.1), _loss)
  restored = fresh.restore_checkpoint(Checkpointer(tmp_path))
  assert restored.step == 2 and restored.meta["step"] == 2
  err = capsys.readouterr().err
  assert err.count("warning:") == 1 and "falling back to step 2" in err
  ref = NNXTrainer(nnx.Linear(3, 1, rngs=nnx.Rngs(0)), optax.sgd(0.1), _loss)
  for _ in range(2):
    ref.step(_batch(), jax.random.key(0))
  kernel_at_2 = ref.model.kernel[...]
  np.testing.assert_array_equal(fresh.model.kernel[...], kernel_at_2)
  # Every step unreadable: one error naming the folder.
  for f in (tmp_path / "checkpoints" / "2" / "state").rglob("*"):
    if f.is_file() and "/d/" in str(f):
      f.write_bytes(b"\0" * f.stat().st_size)
  with pytest.raises(CheckpointError, match="no readable checkpoint in"):
    fresh.restore_checkpoint(Checkpointer(tmp_path))


def test_skip_nonfinite_leaves_the_state_and_stops_after_max_bad_steps():
  trainer = NNXTrainer(
    nnx.Linear(3, 1, rngs=nnx.Rngs(0)), optax.adam(0.1), _loss, skip_nonfinite=True
  )
  trainer.step(_batch(), jax.random.key(0))
  before = jax.tree.map(jnp.array, trainer.state)
  trainer.step(_batch(poison=True), jax.random.key(0))
  assert bool(trainer.last_skipped)
  jax.tree.map(np.testing.assert_array_equal, trainer.state, before)
  batches = [_batch(), _batch(True), _batch(), _batch(True), _batch(True), _batch(True), _batch()]
  res = trainer.fit(batches, steps=7, key=jax.random.key(0), max_bad_steps=3)
  assert res.stopped == "non-finite" and res.steps_done == 6 and res.skipped_steps == 4
  assert np.isfinite(trainer.model.kernel[...]).all()
