"""The runs file: records, merging across files, duplicates, tables."""

import json

import pytest

from fira_jax.lab import results


def _rec(method, seed, acc, **settings):
  return results.make_record(
    method, seed, settings, {"acc": acc}, command="fira-jax x", machine="m"
  )


def test_records_round_trip_and_merge(tmp_path):
  a, b = tmp_path / "a_runs.jsonl", tmp_path / "b" / "b_runs.jsonl"
  results.append_run(a, _rec("single", 0, 0.8, dataset="cora"))
  results.append_run(a, _rec("freekd", 0, 0.81, dataset="cora"))
  results.append_run(b, _rec("freekd", 1, 0.82, dataset="cora"))
  runs = results.read_runs(a, b)
  assert [(r["method"], r["seed"]) for r in runs] == [("single", 0), ("freekd", 0), ("freekd", 1)]
  assert runs[0]["machine"] == "m" and runs[0]["command"] == "fira-jax x"
  groups = results.group_runs(runs, ("settings.dataset", "method"))
  assert list(groups) == [("cora", "single"), ("cora", "freekd")]
  assert results.field(runs[2], "metrics.acc") == 0.82


def test_duplicates_are_refused_or_replaced(tmp_path):
  a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
  results.append_run(a, _rec("kpod", 0, 0.1))
  results.append_run(b, _rec("kpod", 0, 0.2))
  with pytest.raises(ValueError, match=r"b.jsonl:1 repeats the run"):
    results.read_runs(a, b)
  assert results.read_runs(a, b, duplicates="last")[0]["metrics"]["acc"] == 0.2
  # Different settings make different runs when the key says so.
  results.append_run(a, _rec("kpod", 0, 0.3, dataset="x"))
  assert len(results.read_runs(a, key=("settings.dataset", "method", "seed"))) == 2


def test_bad_files_give_clear_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match="no runs file"):
    results.read_runs(tmp_path / "none.jsonl")
  bad = tmp_path / "bad.jsonl"
  bad.write_text("{not json\n")
  with pytest.raises(ValueError, match=r"bad.jsonl:1 is not JSON"):
    results.read_runs(bad)
  bad.write_text(json.dumps({"method": "x"}) + "\n")
  with pytest.raises(ValueError, match="not a run record"):
    results.read_runs(bad)
  with pytest.raises(ValueError, match="missing"):
    results.append_run(bad, {"method": "x"})


def test_records_record_this_machine_and_command_by_default():
  import numpy as np

  r = results.make_record("m", np.int64(2), {"lr": np.float32(0.5)}, {"acc": np.array([1, 2])})
  assert r["seed"] == 2 and r["settings"]["lr"] == 0.5 and r["metrics"]["acc"] == [1, 2]
  assert "CPU cores" in r["machine"] and r["command"]


def test_markdown_table():
  t = results.markdown_table(["a", "b"], [[1, "x"], [2, "y"]])
  assert t.splitlines() == ["| a | b |", "|---|---|", "| 1 | x |", "| 2 | y |"]
  with pytest.raises(ValueError, match="cells"):
    results.markdown_table(["a"], [[1, 2]])
