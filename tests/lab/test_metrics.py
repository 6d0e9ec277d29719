"""Metrics files: resume truncation, append mode, JSON conversion."""

import jax.numpy as jnp
import numpy as np

from fira_jax.lab.metrics import MetricsLog, read_metrics, to_jsonable


def test_resume_drops_records_after_the_checkpoint(tmp_path):
  log = MetricsLog(tmp_path)
  for s in range(1, 6):
    log.write({"step": s, "loss": 1.0 / s})
  MetricsLog(tmp_path, resume_step=3)
  assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2, 3]
  MetricsLog(tmp_path)  # a fresh run empties the file
  assert read_metrics(tmp_path) == []


def test_append_mode_and_file_paths(tmp_path):
  path = tmp_path / "kpod.metrics.jsonl"
  MetricsLog.at(path).write({"method": "cot", "epoch": 0, "acc": np.float32(0.5)})
  MetricsLog.at(path, append=True).write({"method": "kpod", "ok": True, "v": jnp.arange(2)})
  rows = read_metrics(path)
  assert rows == [
    {"method": "cot", "epoch": 0, "acc": 0.5},
    {"method": "kpod", "ok": True, "v": [0, 1]},
  ]


def test_to_jsonable():
  assert to_jsonable({"a": (np.int32(1), None, float("nan"))})["a"][:2] == [1, None]
  assert to_jsonable(jnp.float32(2.5)) == 2.5
