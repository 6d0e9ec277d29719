"""benchmarks/fira/pretrain_sweep.py: the coordinate search, grid extension and the report."""

import argparse
import importlib.util
import json
import pathlib

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "fira" / "pretrain_sweep.py"


@pytest.fixture(scope="module")
def sweep():
  spec = importlib.util.spec_from_file_location("pretrain_sweep", SCRIPT)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_a_best_value_at_an_edge_extends_the_grid(sweep):
  assert sweep._extend((1e-3, 1e-2, 1e-1), 1e-2) is None
  assert sweep._extend((1e-3, 1e-2, 1e-1), 1e-1) == pytest.approx((1e-3, 1e-2, 1e-1, 1.0))
  assert sweep._extend((1e-3, 3e-3, 1e-2), 1e-3) == pytest.approx((1e-3 / 3, 1e-3, 3e-3, 1e-2))


def test_coordinate_search_finds_an_optimum_outside_the_first_grid(sweep, tmp_path):
  """With a known objective (perplexity minimal at lr = 0.5, rest_lr = 1e-3) the search walks
  past the lr grid's upper edge (0.1 → 1.0 → 10) and stops once the best is inside."""
  args = argparse.Namespace(max_extend=3, lr_grid=[1e-3, 1e-2, 1e-1], rest_grid=[1e-4, 1e-3, 1e-2],
                            rest_lr_start=1e-2, seeds=[0, 1], out=tmp_path)  # fmt: skip
  s = sweep.Sweep(args, "test")
  calls = []

  def objective(size, name, lr, rest_lr, seed, phase):
    import math

    calls.append((lr, rest_lr, seed, phase))
    return 10 + (math.log10(lr) - math.log10(0.5)) ** 2 + (math.log10(rest_lr) + 3) ** 2

  s.run = objective
  lr, rest = s.method("smoke", "fira")
  assert lr == pytest.approx(1.0)
  assert max(c[0] for c in calls) == pytest.approx(10.0)  # one step past the best, then stop
  assert rest == pytest.approx(1e-3)
  assert {c[2] for c in calls if c[3] == "seeds"} == {0, 1}


@pytest.mark.slow
def test_smoke_sweep_writes_runs_and_a_report(sweep, tmp_path, shakespeare_sample):
  out = tmp_path / "out"
  argv = ["--smoke", "--methods", "fira", "--out", str(out), "--run-dir", str(tmp_path / "r"),
          "--quiet", "--data", f"text:{shakespeare_sample}", "--lr-grid", "0.01"]  # fmt: skip
  assert sweep.main(argv) == 0
  runs = [json.loads(line) for line in (out / "pretrain_sweep_runs.jsonl").read_text().splitlines()]
  assert {r["settings"]["phase"] for r in runs} >= {"lr", "rest_lr", "seeds"}
  assert all(
    {"method", "seed", "settings", "metrics", "machine", "command"} <= set(r) for r in runs
  )
  seeded = [r for r in runs if r["settings"]["phase"] == "seeds"]
  assert {r["seed"] for r in seeded} == {1}  # seed 0 of the best pair is reused from the sweep
  report = (out / "pretrain_sweep.md").read_text()
  assert "## smoke" in report and "| fira |" in report
  assert sweep.main([*argv, "--report-only"]) == 0  # re-renders without training
  assert len((out / "pretrain_sweep_runs.jsonl").read_text().splitlines()) == len(runs)
