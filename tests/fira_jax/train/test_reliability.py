"""Faults a run on preemptible machines meets: SIGTERM, kill -9 (also inside a checkpoint write),
a corrupt checkpoint, NaN gradients, bad hyper-parameters. Each must leave a run that resumes
to exactly the uninterrupted metrics, or fail with one clear line."""

import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from fira_jax.lab.preemption import EXIT_PREEMPTED
from fira_jax.train import read_metrics

SMALL = [
  "--model", "smoke", "--batch-size", "8", "--seq-len", "32", "--tokenizer", "byte",
  "--no-progress", "--log-every", "1", "--optimizer", "fira", "--rank", "8",
  "--update-proj-gap", "3", "--steps", "10", "--checkpoint-every", "2", "--eval-every", "4",
]  # fmt: skip
KEYS = ("loss", "grad_norm", "residual_norm", "val_loss", "skipped_steps")


def _args(data, out, *extra):
  return ["train", "--data", data, "--out", str(out), *SMALL, *extra]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, shakespeare_sample):
  """The uninterrupted run's metrics (on the same corpus as the ``shakespeare`` fixture)."""
  import fira_jax.lab.cli

  data = f"text:{shakespeare_sample}"
  out = tmp_path_factory.mktemp("reference") / "run"
  assert fira_jax.lab.cli.main(_args(data, out)) == 0
  return read_metrics(out)


def _assert_same(run_dir, reference):
  got = read_metrics(run_dir)
  assert [r["step"] for r in got] == [r["step"] for r in reference]
  for key in KEYS:
    assert [r.get(key) for r in got] == [r.get(key) for r in reference], key


def _flip_bytes(step_dir: pathlib.Path) -> None:
  """Flips 64 bytes in the middle of every data file of a checkpoint's arrays."""
  files = [f for f in (step_dir / "state").rglob("*") if f.is_file() and "/d/" in str(f)]
  assert files
  for f in files:
    b = bytearray(f.read_bytes())
    for i in range(len(b) // 2, min(len(b), len(b) // 2 + 64)):
      b[i] ^= 0xFF
    f.write_bytes(bytes(b))


def _spawn(args, tmp_path, **env):
  """``fira-jax`` in a subprocess, sharing a persistent compilation cache."""
  env = {
    **os.environ,
    "JAX_PLATFORMS": "cpu",
    "JAX_COMPILATION_CACHE_DIR": str(tmp_path.parent / "xla_cache_subprocess"),
    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    **env,
  }
  cmd = [sys.executable, "-m", "fira_jax.lab.cli", *args]
  return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, proc, timeout=240.0):
  end = time.monotonic() + timeout
  while not predicate():
    assert proc.poll() is None, proc.communicate()
    assert time.monotonic() < end, "timed out"
    time.sleep(0.005)


def _logged_steps(out) -> int:
  path = out / "metrics.jsonl"
  return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.mark.slow
def test_sigterm_checkpoints_the_current_step_and_resumes_exactly(
  cli, shakespeare, tmp_path, reference
):
  out = tmp_path / "run"
  proc = _spawn(_args(shakespeare, out), tmp_path, FIRA_JAX_FAULT_STEP_DELAY="0.3")
  _wait_for(lambda: _logged_steps(out) >= 2, proc)  # step 3 (no periodic checkpoint) next
  proc.send_signal(signal.SIGTERM)
  time.sleep(0.05)
  proc.send_signal(signal.SIGINT)  # a second signal during the save changes nothing
  _, err = proc.communicate(timeout=120)
  assert proc.returncode == EXIT_PREEMPTED, err
  stopped = read_metrics(out)[-1]["step"]
  assert 2 <= stopped < 10
  assert (out / "checkpoints" / str(stopped)).is_dir()
  assert f"SIGTERM: stopped after step {stopped} of 10" in err
  assert "resume with: fira-jax train" in err and "--resume" in err
  assert cli(_args(shakespeare, out, "--resume")) == 0
  _assert_same(out, reference)


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["between_checkpoints", "inside_a_checkpoint_write"])
def test_kill_9_resumes_exactly(cli, shakespeare, tmp_path, reference, moment):
  out = tmp_path / "run"
  proc = _spawn(_args(shakespeare, out), tmp_path, FIRA_JAX_FAULT_STEP_DELAY="0.2")
  if moment == "between_checkpoints":
    _wait_for(lambda: _logged_steps(out) >= 5, proc)
  else:
    ckpts = out / "checkpoints"
    _wait_for(lambda: ckpts.is_dir() and any("tmp" in p.name for p in ckpts.iterdir()), proc)
  proc.kill()
  proc.communicate()
  assert cli(_args(shakespeare, out, "--resume")) == 0
  _assert_same(out, reference)


def test_left_over_partial_checkpoint_is_ignored(cli, shakespeare, tmp_path, reference):
  out = tmp_path / "run"
  assert cli(_args(shakespeare, out, "--stop-at-step", "4")) == 0
  # What a kill during the write of step 6 leaves: a temporary folder with part of the files.
  partial = out / "checkpoints" / "6.orbax-checkpoint-tmp-1234567890"
  (partial / "state").mkdir(parents=True)
  (partial / "state" / "_METADATA").write_text('{"tree_metadata": {')
  assert cli(_args(shakespeare, out, "--resume")) == 0
  _assert_same(out, reference)


def test_corrupt_newest_checkpoint_falls_back_with_one_warning(
  cli, shakespeare, tmp_path, reference, capsys
):
  out = tmp_path / "run"
  assert cli(_args(shakespeare, out, "--stop-at-step", "6")) == 0
  _flip_bytes(out / "checkpoints" / "6")
  capsys.readouterr()
  assert cli(_args(shakespeare, out, "--resume")) == 0
  err = capsys.readouterr().err
  warnings = [line for line in err.splitlines() if line.startswith("warning:")]
  assert len(warnings) == 1, err
  assert "checkpoints/6 cannot be read" in warnings[0] and "falling back to step 4" in warnings[0]
  assert f"resuming from step 4 of {out / 'checkpoints'}" in err
  assert (out / "corrupt_checkpoints" / "6").is_dir()
  _assert_same(out, reference)


def test_all_checkpoints_corrupt_is_one_clear_error(cli, shakespeare, tmp_path, capsys):
  out = tmp_path / "run"
  assert cli(_args(shakespeare, out, "--stop-at-step", "4")) == 0
  for step in ("2", "4"):
    _flip_bytes(out / "checkpoints" / step)
  capsys.readouterr()
  assert cli(_args(shakespeare, out, "--resume")) == 2
  err = capsys.readouterr().err
  errors = [line for line in err.splitlines() if "error:" in line]
  assert len(errors) == 1 and "Traceback" not in err
  assert f"no readable checkpoint in {out / 'checkpoints'}" in errors[0]


def test_resume_without_a_checkpoint_says_so(cli, shakespeare, tmp_path, capsys):
  out = tmp_path / "fresh"
  assert cli(_args(shakespeare, out, "--resume", "--steps", "2", "--eval-every", "2")) == 0
  err = capsys.readouterr().err
  assert f"warning: --resume: no checkpoint in {out / 'checkpoints'}, starting from step 0" in err


def test_nan_gradient_skips_the_step_and_counts_it(cli, shakespeare, tmp_path, monkeypatch):
  out = tmp_path / "nan"
  monkeypatch.setenv("FIRA_JAX_FAULT_NAN_STEPS", "3")
  assert cli(_args(shakespeare, out, "--steps", "5", "--eval-every", "5")) == 0
  rows = read_metrics(out)
  assert [r["skipped_steps"] for r in rows] == [0, 0, 1, 1, 1]
  assert rows[2]["loss"] != rows[2]["loss"]  # NaN at step 3
  assert all(r["loss"] == r["loss"] for r in rows if r["step"] != 3)
  assert rows[-1]["val_loss"] < 6.0  # the parameters stayed finite


def test_consecutive_nan_steps_stop_the_run_keeping_the_last_checkpoint(
  cli, shakespeare, tmp_path, monkeypatch, capsys
):
  out = tmp_path / "nan"
  monkeypatch.setenv("FIRA_JAX_FAULT_NAN_STEPS", "3 4 5 6")
  assert cli(_args(shakespeare, out, "--max-bad-steps", "3")) == 2
  err = capsys.readouterr().err.strip().splitlines()[-1]
  assert "3 consecutive steps (3-5) had a non-finite loss or gradient" in err
  assert "last checkpoint (step 4) is intact" in err  # steps 3-4 left it as at 2
  assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["2", "4"]


@pytest.mark.parametrize(
  "extra, match",
  [
    (["--lr", "nan"], "--lr must be a finite number in (0.0, inf), got nan"),
    (["--lr", "-1"], "--lr must be a finite number"),
    (["--alpha", "inf"], "--alpha must be a finite number"),
    (["--weight-decay", "-0.1"], "--weight-decay must be a finite number in [0.0, inf)"),
    (["--min-lr-ratio", "2"], "--min-lr-ratio must be a finite number in [0.0, 1.0]"),
    (["--fira-option", "gamma=NaN"], "--fira-option gamma must be a finite number"),
    (["--rank", "0"], "--rank must be a positive int"),
    (["--update-proj-gap", "0"], "--update-proj-gap must be a positive int"),
    (["--keep-checkpoints", "0"], "--keep-checkpoints must be a positive int"),
    (["--max-bad-steps", "0"], "--max-bad-steps must be a positive int"),
    (["--warmup-steps", "10"], "--warmup-steps must be < --steps 10"),
  ],
)
def test_bad_hyper_parameters_are_one_line_errors(cli, tmp_path, capsys, extra, match):
  assert cli(["train", "--out", str(tmp_path / "bad"), *SMALL, *extra]) == 2
  err = capsys.readouterr().err.strip()
  assert len(err.splitlines()) == 1 and match in err, err


def _free_port() -> int:
  import socket

  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _spawn_hosts(args, tmp_path, n=2, **env):
  """``n`` processes of one multi-host job (``jax.distributed`` over localhost, 2 CPU devices
  each, gloo collectives), as a pod slice or a SLURM job would start them."""
  port = _free_port()
  return [
    _spawn(
      args,
      tmp_path,
      XLA_FLAGS="--xla_force_host_platform_device_count=2",
      JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
      JAX_NUM_PROCESSES=str(n),
      JAX_PROCESS_ID=str(i),
      JAX_ENABLE_COMPILATION_CACHE="false",  # no programs shared with the other fault tests
      **env,
    )
    for i in range(n)
  ]


def _finish(procs, timeout=900):
  results = [p.communicate(timeout=timeout) for p in procs]
  return [p.returncode for p in procs], [err for _, err in results]


@pytest.mark.slow
def test_two_hosts_sigterm_save_the_same_step_and_resume_exactly(tmp_path, shakespeare, reference):
  """Two processes, one job: the uninterrupted run matches one process; on SIGTERM (sent to
  every host, as a preempted slice gets it) JAX's preemption sync point makes both hosts save
  the same step, and the resumed job continues exactly."""
  uninterrupted = tmp_path / "uninterrupted"
  codes, errs = _finish(_spawn_hosts(_args(shakespeare, uninterrupted), tmp_path))
  assert codes == [0, 0], errs
  full = read_metrics(uninterrupted)
  assert [r["step"] for r in full] == [r["step"] for r in reference]
  for a, b in zip(full, reference, strict=True):  # 2 × 2 devices vs 8: reduction order only
    assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)

  out = tmp_path / "run"
  procs = _spawn_hosts(_args(shakespeare, out), tmp_path, FIRA_JAX_FAULT_STEP_DELAY="0.3")
  _wait_for(lambda: _logged_steps(out) >= 2, procs[0], timeout=900)  # two compiles, 2 cores
  for p in procs:
    p.send_signal(signal.SIGTERM)
  codes, errs = _finish(procs)
  assert codes == [EXIT_PREEMPTED] * 2, errs
  stopped = read_metrics(out)[-1]["step"]
  assert 2 <= stopped < 10
  for err in errs:
    assert f"preemption: stopped after step {stopped} of 10" in err
  assert (out / "checkpoints" / str(stopped)).is_dir()

  codes, errs = _finish(_spawn_hosts(_args(shakespeare, out, "--resume"), tmp_path))
  assert codes == [0, 0], errs
  assert f"resuming from step {stopped}" in errs[0]
  _assert_same(out, full)
