"""The pre-training report is rendered from its runs file, and finished runs become records."""

import argparse
import dataclasses
import json
import pathlib

import pytest

from fira_jax.lab.results import read_runs


@pytest.fixture
def bench(load_benchmark):
  return load_benchmark("pretrain_compare")


def test_the_committed_report_renders_from_the_committed_runs(bench, results_dir):
  runs = read_runs(results_dir / "pretrain_runs.jsonl")
  assert {(r["method"], r["seed"]) for r in runs} == {(m, s) for m in bench.METHODS for s in (0, 1)}
  report = results_dir / "pretrain.md"
  text = bench.render(runs, notes=bench.kept_notes(report))
  assert text == report.read_text(encoding="utf-8")
  for row in (
    "| adamw | 0, 1 | 85.78 ± 1.49 | 4.45 ± 0.02 | 14.04 MiB (100%) | 1,840,256 / 1,840,256 "
    "| 1,832 ± 962 |",
    "| fira | 0, 1 | 58.20 ± 0.29 | 4.06 ± 0.01 | 9.95 MiB (71%) | 1,840,256 / 1,840,256 "
    "| 1,103 ± 61 |",
    "| lora | 0, 1 | 92.15 ± 0.31 | 4.52 ± 0.00 | 10.39 MiB (74%) | 2,152,576 / 1,362,048 "
    "| 2,837 ± 1,330 |",
  ):
    assert row in text
  assert "**Measured ordering here**" in text  # the hand-written notes are kept


def _fake_run(bench, args, name, seed, ppl):
  """A finished run folder (summary and metrics) as ``fira_jax.train.train`` leaves it."""
  config = bench.train_config(args, name, seed)
  out = pathlib.Path(config.out)
  out.mkdir(parents=True)
  summary = {
    "model": config.model,
    "optimizer": config.optimizer,
    "steps_done": config.steps,
    "params": 1000,
    "frozen_params": 0,
    "optimizer_state_bytes": (8000 if name == "adamw" else 6000) * 2**10,
    "tokens_per_s": 1000.0 + seed,
    "val_loss": 2.0,
    "val_ppl": ppl,
    "config": dataclasses.asdict(config),
  }
  (out / "summary.json").write_text(json.dumps(summary))
  logs = [{"step": s, "loss": 5.0 - s / 10} for s in range(1, 11)] + [{"step": 10, "val_ppl": ppl}]
  (out / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in logs))


def test_finished_runs_become_records_and_a_report(bench, tmp_path, monkeypatch):
  argv = [
    "--model", "smoke", "--steps", "10", "--seeds", "0", "1", "--methods", "adamw", "fira",
    "--run-dir", str(tmp_path / "runs"), "--runs-file", str(tmp_path / "runs.jsonl"),
    "--results", str(tmp_path / "report.md"), "--png", str(tmp_path / "curves.png"), "--quiet",
  ]  # fmt: skip
  parser_args = argparse.Namespace(
    model="smoke", steps=10, batch_size=8, seq_len=128, rank=32, update_proj_gap=100, alpha=0.25,
    eval_every=100, eval_batches=16, vocab_size=4096, data="stdlib",
    run_dir=str(tmp_path / "runs"), quiet=True,
  )  # fmt: skip
  for seed, ppl in ((0, 10.0), (1, 12.0)):
    _fake_run(bench, parser_args, "adamw", seed, ppl)
    _fake_run(bench, parser_args, "fira", seed, ppl - 2)
  monkeypatch.setattr("fira_jax.train.train", lambda config: pytest.fail("nothing to train"))
  bench.main(argv)
  bench.main(argv)  # runs already in the file are not added again
  runs = read_runs(tmp_path / "runs.jsonl")
  assert [(r["method"], r["seed"]) for r in runs] == [
    ("adamw", 0), ("fira", 0), ("adamw", 1), ("fira", 1)
  ]  # fmt: skip
  fira = runs[1]
  assert fira["settings"]["optimizer"] == "fira" and fira["settings"]["fira_options"] == {}
  assert fira["metrics"]["val_ppl"] == 8.0 and fira["curves"]["val_ppl"] == [[10, 8.0]]
  assert "pretrain_compare.py" in fira["command"] and fira["machine"]
  text = (tmp_path / "report.md").read_text()
  # mean ± sample standard deviation over the two seeds; the state relative to AdamW's
  assert "| adamw | 0, 1 | 11.00 ± 1.41 | 2.00 ± 0.00 | 7.81 MiB (100%) |" in text
  assert "| fira | 0, 1 | 9.00 ± 1.41 | 2.00 ± 0.00 | 5.86 MiB (75%) | 1,000 / 1,000 |" in text
  assert "Runs:" not in text and "![loss curves](curves.png)" in text
  assert (tmp_path / "curves.png").stat().st_size > 0
