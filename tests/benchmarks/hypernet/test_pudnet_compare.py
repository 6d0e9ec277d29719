"""The PudNet grid driver: the device data folder loads, a smoke grid writes its runs and the
table, an interrupted grid resumes (with the seed-independent baselines kept between
processes), and a spent budget records skips instead of running."""

import json

import numpy as np
import pytest

from fira_jax.lab.results import read_runs
from hypernet import load_cifar10


@pytest.fixture(scope="module")
def compare(load_script):
  return load_script("hypernet/pudnet_compare")


def test_device_data_has_the_loader_layout(shared_data_dir, tmp_path, capsys, load_script):
  make = load_script("hypernet/make_device_data")
  out = tmp_path / "dd"
  argv = ["--out", str(out), "--src", str(shared_data_dir)]
  argv += ["--cifar-train-per-class", "3", "--cifar-test-per-class", "2"]
  assert make.main(argv) == 0
  manifest = json.loads((out / "MANIFEST.json").read_text())
  assert manifest["cifar10_counts"]["train"] == {str(c): 3 for c in range(10)}
  d = load_cifar10(out, cache_dir=tmp_path / "cache")
  assert d.train.x.shape == (30, 32, 32, 3) and d.test.x.shape == (20, 32, 32, 3)
  assert np.bincount(d.train.y).tolist() == [3] * 10 and d.train.x.dtype == np.uint8
  assert (out / "mnist" / "mnist.npz").stat().st_size > 10_000_000
  capsys.readouterr()
  assert make.main(argv) == 0 and "nothing to do" in capsys.readouterr().out


def test_smoke_grid_writes_runs_and_table(compare, shared_data_dir, tmp_path):
  argv = ["--grid", "gpu", "--smoke", "--data-dir", str(shared_data_dir), "--no-progress"]
  argv += ["--out-dir", str(tmp_path), "--columns", "mnist:intra", "mnist:inter"]
  assert compare.main([*argv, "--methods", "pudnet", "--seeds", "1"]) == 0
  runs = read_runs(tmp_path / "pudnet_gpu_smoke_runs.jsonl", key=("settings.setting", "seed"))
  assert [r["settings"]["setting"] for r in runs] == ["intra", "inter"]
  for r in runs:  # one meta-training served both columns
    assert (
      r["settings"]["meta_trained_for"] == "mnist:intra" and r["settings"]["grid"] == "gpu-smoke"
    )
    assert 0 <= r["metrics"]["pudnet_acc"] <= 1 and r["metrics"]["predict_seconds"] > 0
  md = (tmp_path / "pudnet_gpu_smoke.md").read_text()
  assert "| MNIST intra | MNIST → digits |" in md and "| pudnet+ft@1 |" in md and "2,305×" in md
  assert len(list((tmp_path / "baselines").glob("mnist_*.json"))) == 2  # one per column
  # Resume: seed 0 is not redone; seed 1 reuses the kept baselines (they do not depend on it).
  assert compare.main([*argv, "--methods", "pudnet", "--seeds", "2"]) == 0
  runs = read_runs(tmp_path / "pudnet_gpu_smoke_runs.jsonl", key=("settings.setting", "seed"))
  by = {(r["settings"]["setting"], r["seed"]): r["metrics"] for r in runs}
  assert sorted(by) == [("inter", 0), ("inter", 1), ("intra", 0), ("intra", 1)]
  for s in ("intra", "inter"):
    assert by[(s, 1)]["scratch_acc"] == by[(s, 0)]["scratch_acc"]
    assert by[(s, 1)]["random_acc"] == by[(s, 0)]["random_acc"]
  # A spent budget: every piece is recorded as skipped, nothing runs.
  assert compare.main([*argv, "--methods", "ghn_lite", "--seeds", "2", "--budget-s", "0"]) == 0
  lines = (tmp_path / "pudnet_gpu_smoke_runs.jsonl").read_text().splitlines()
  skipped = [json.loads(x) for x in lines[4:]]
  assert [r["method"] for r in skipped] == ["skipped:ghn_lite"] * 4
  assert "Skipped because the time budget" in (tmp_path / "pudnet_gpu_smoke.md").read_text()
  # --rebaseline: the baselines again at a longer scratch length; PudNet's own numbers kept.
  before = read_runs(tmp_path / "pudnet_gpu_smoke_runs.jsonl", duplicates="keep")
  assert compare.main([*argv, "--rebaseline", "--set", "scratch_epochs=6"]) == 0
  after = read_runs(tmp_path / "pudnet_gpu_smoke_runs.jsonl", duplicates="keep")
  assert after[4:] == before[4:]  # the skipped records have no baselines: untouched
  n_test = 5 * after[0]["settings"]["n_test_eval"]
  for old_run, new_run in zip(before[:4], after[:4], strict=True):
    old, new = old_run["metrics"], new_run["metrics"]
    assert sorted(old["scratch_acc"], key=int) == ["1", "2"]
    assert sorted(new["scratch_acc"], key=int) == ["1", "5", "6"]
    assert new_run["settings"]["scratch_epochs"] == 6 and len(new["scratch_curve"]) == 6
    for name in ("pudnet_acc", "finetune_acc", "meta_history", "random_acc"):
      assert new[name] == old[name]
    # The first epoch is the same training (up to a test image of float reordering).
    assert abs(new["scratch_acc"]["1"] - old["scratch_acc"]["1"]) <= 1 / n_test + 1e-6
    assert new["predict_seconds_meta_run"] == old["predict_seconds"]
    assert new["speedup"] == new["train_seconds"] / new["predict_seconds"]
    assert set(new["rebaselined"]) == {"command", "machine"}
  with pytest.raises(SystemExit):  # --rebaseline needs a grid (its scratch length)
    compare.main(["--rebaseline", "--out-dir", str(tmp_path)])


def test_cpu_grid_runs_every_method_in_every_column(compare):
  grid = compare.GRIDS["cpu"]
  columns = [f"{d}:{s}" for d, s, _ in compare.COLUMNS]
  jobs = compare.grid_jobs(grid, columns, grid["methods"], range(3))
  for method in compare.VARIANTS:  # every column: 4 meta-trainings per seed
    pieces = [(seed, g, s) for m, seed, g, s in jobs if m == method]
    assert len(pieces) == 12 and pieces[:2] == [
      (0, 0, ["intra", "inter"]),
      (0, 1, ["intra", "inter"]),
    ]
  # The order: pudnet's seeds, then the control, then the ablations.
  assert [m for m, *_ in jobs] == sorted([m for m, *_ in jobs], key=grid["methods"].index)
  # Columns chosen on the command line restrict every method.
  assert compare.grid_jobs(grid, ["cifar10:inter"], ["pudnet", "no_ahru"], [0]) == [
    ("pudnet", 0, 1, ["inter"]),
    ("no_ahru", 0, 1, ["inter"]),
  ]
  # A grid's method_columns restrict a method to its columns.
  only = {**grid, "method_columns": {"no_ahru": ["mnist:intra"]}}
  assert [(seed, g, s) for m, seed, g, s in compare.grid_jobs(only, columns, ["no_ahru"], [0, 1])
          ] == [(0, 0, ["intra"]), (1, 0, ["intra"])]  # fmt: skip


def test_grid_sets_layers_dataset_smoke_and_overrides(compare):
  grid = {"set": {"d": 32, "h": 4, "meta_steps": 60}, "dataset_set": {"cifar10": {"h": 2}}}
  assert compare.grid_sets(grid, "mnist") == {"d": 32, "h": 4, "meta_steps": 60}
  assert compare.grid_sets(grid, "cifar10", overrides={"d": 16}) == {
    "d": 16, "h": 2, "meta_steps": 60
  }  # fmt: skip
  assert compare.grid_sets(grid, "cifar10", smoke=True)["meta_steps"] == compare.SMOKE["meta_steps"]


def test_a_run_without_baselines_is_redone_by_a_grid_that_wants_them(compare, tmp_path):
  from fira_jax.lab import append_run, make_record

  path = tmp_path / "runs.jsonl"
  settings = {"dataset": "cifar10", "setting": "intra"}
  append_run(path, make_record("pudnet", 0, settings, {"pudnet_acc": 0.4}, command="c"))
  append_run(path, make_record("pudnet", 1, settings, {"pudnet_acc": 0.4, "random_acc": 0.2},
                               command="c"))  # fmt: skip
  append_run(path, make_record("skipped:pudnet", 2, settings, {"reason": "budget"}, command="c"))
  done = compare._finished(path)
  assert ("pudnet", 0, "cifar10", "intra", False) in done
  assert ("pudnet", 0, "cifar10", "intra", True) not in done
  assert {("pudnet", 1, "cifar10", "intra", b) for b in (True, False)} <= done
  assert not any(key[1] == 2 for key in done)


def test_loss_table_splits_columns_logged_at_different_steps(compare):
  def run(steps):
    return {"seed": 0, "metrics": {"meta_history": [{"step": s, "loss": 1.0 / s} for s in steps]}}

  by = {
    ("mnist", "intra", "pudnet"): [run([10, 20, 30])],
    ("cifar10", "intra", "pudnet"): [run([10])],
  }
  present = [c for c in compare.COLUMNS if c[1] == "intra"]
  text = compare._loss_table(by, present)
  assert "| meta-loss (mean over seeds) at step | 10 | 20 | 30 |" in text
  assert "| meta-loss (mean over seeds) at step | 10 |" in text
  assert "| CIFAR-10 intra, pudnet | 0.100 |" in text
