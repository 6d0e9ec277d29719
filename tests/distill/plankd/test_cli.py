"""``fira-jax distill plankd``: the grid end to end on a tiny dataset, resuming, bad inputs."""

import json

import numpy as np
import pytest

from distill.plankd._sim import simulator_available
from fira_jax.lab.cli import main

needs_sim = pytest.mark.skipif(
  not simulator_available(), reason='highway-env is not installed (pip install "fira-jax[sim]")'
)


def _runs(path):
  return [json.loads(line) for line in path.read_text().splitlines()]


@needs_sim
def test_compare_train_evaluate_end_to_end(tmp_path, capsys):
  work, out = tmp_path / "work", tmp_path / "plankd.md"
  argv = ["distill", "plankd", "compare", "--smoke", "--methods", "alone", "--quiet"]
  argv += ["--work", str(work), "--out", str(out)]
  assert main(argv) == 0
  runs = _runs(tmp_path / "plankd_runs.jsonl")
  assert [(r["method"], r["settings"]["size"]) for r in runs] == [
    ("teacher", "teacher"),
    ("alone", "S-S"),
  ]
  for r in runs:
    assert {"method", "seed", "settings", "metrics", "machine", "command"} <= set(r)
    m = r["metrics"]
    assert 0 <= m["driving_score"] <= 100 and m["inference_ms"] > 0 and m["l1"] >= 0
  report = out.read_text()
  assert "| teacher |" in report and "student alone (B1)" in report
  # resumed: nothing is trained again; a run over the time budget is skipped and reported
  assert main([*argv, "--methods", "alone", "plankd_fix", "--budget-s", "1e-6"]) == 0
  assert len(_runs(tmp_path / "plankd_runs.jsonl")) == 2
  assert "- PlanKD + plain L1, feasible margin S-S: seeds 0" in out.read_text()
  # the single-planner commands on the collected data
  model = tmp_path / "alone.npz"
  train = ["distill", "plankd", "train", "--smoke", "--quiet", "--size", "S-S"]
  assert main([*train, "--data", str(work / "train_2.npz"), "--out", str(model)]) == 0
  ev = ["distill", "plankd", "evaluate", "--smoke", "--quiet", "--episodes", "1"]
  ev += [
    "--model",
    str(model),
    "--val",
    str(work / "val_1.npz"),
    "--runs",
    str(tmp_path / "e.jsonl"),
  ]
  assert main(ev) == 0
  (record,) = _runs(tmp_path / "e.jsonl")
  assert record["method"] == "alone" and record["settings"]["size"] == "S-S"
  assert "driving_score" in capsys.readouterr().out


@pytest.mark.parametrize(
  ("argv", "message"),
  [
    (["train", "--data", "missing.npz", "--out", "m.npz"], "no dataset at"),
    (["compare", "--train-episodes", "0"], "train_episodes must be in"),
    (["compare", "--test-episodes", "51"], "test_episodes must be in"),
    (["evaluate", "--model", "m.npz", "--val", "v.npz", "--episodes", "99"], "--episodes"),
    (["collect", "--split", "val", "--episodes", "51", "--out", "x.npz"], "--episodes"),
    (["train", "--data", "d.npz", "--out", "m.npz", "--epochs", "0"], "--epochs"),
    (["evaluate", "--model", "missing.npz", "--val", "v.npz"], "no planner at"),
  ],
)
def test_bad_inputs_give_one_line_errors(argv, message, tmp_path, monkeypatch, capsys):
  monkeypatch.chdir(tmp_path)
  np.savez(tmp_path / "d.npz", ego=np.zeros((1, 4)))
  assert main(["distill", "plankd", *argv]) == 2
  err = capsys.readouterr().err
  assert message in err and err.count("\n") == 1


def test_a_dataset_that_is_not_hw_plan(tmp_path, capsys):
  np.savez(tmp_path / "d.npz", ego=np.zeros((1, 4)))
  argv = ["distill", "plankd", "train", "--data", str(tmp_path / "d.npz"), "--out", "m.npz"]
  assert main(argv) == 2
  assert "not a hw-plan dataset" in capsys.readouterr().err
