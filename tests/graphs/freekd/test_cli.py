import json

import jax
import numpy as np
import pytest

from fira_jax.lab import cli


@pytest.fixture
def main():
  return cli.main


def test_freekd_cli_writes_json(main, planetoid_dir, tmp_path, capsys):
  out = tmp_path / "r.json"
  rc = main(
    [
      "graphs",
      "freekd",
      "--dataset",
      "cora",
      "--data-dir",
      str(planetoid_dir),
      "--backbone",
      "gcn",
      "--variant",
      "freekd",
      "--num-gnns",
      "2",
      "--seeds",
      "2",
      "--epochs",
      "8",
      "--warmup",
      "2",
      "--json",
      str(out),
      "--no-progress",
    ]
  )
  assert rc == 0
  res = json.loads(out.read_text())
  assert len(res["baseline_test_acc"]) == 2 and len(res["test_acc"]) == 2
  assert all(len(t) == 2 for t in res["test_acc"])
  accs = np.array(res["baseline_test_acc"] + sum(res["test_acc"], []))
  assert np.all((accs >= 0) & (accs <= 1)) and accs.max() > 0.3
  assert res["config"]["warmup"] == 2 and res["config"]["reward"] == "sender"
  assert res["summary"]["test_acc_per_gnn"][1]["mean"] == pytest.approx(
    np.mean([t[1] for t in res["test_acc"]])
  )
  assert "freekd on cora (2 seeds)" in capsys.readouterr().out


@pytest.mark.parametrize(
  "args, message",
  [
    (["--dataset", "pubmed"], "dataset must be one of"),
    (["--num-gnns", "1"], "--num-gnns must be >= 2"),
    (["--backbone", "gcn,gat,sage"], "--backbone needs 1 or 2"),
    (["--direction", "sideways"], "direction must be one of"),
    (["--prompt", "nodewise"], "--prompt applies to --variant prompt"),
  ],
)
def test_freekd_cli_errors(main, planetoid_dir, capsys, args, message):
  rc = main(["graphs", "freekd", "--data-dir", str(planetoid_dir), "--no-progress", *args])
  assert rc == 2
  assert message in capsys.readouterr().err


def test_freekd_cli_missing_files(main, tmp_path, capsys):
  assert main(["graphs", "freekd", "--data-dir", str(tmp_path), "--no-progress"]) == 2
  assert "Planetoid files for 'cora' not found" in capsys.readouterr().err


@pytest.mark.skipif(jax.device_count() < 8, reason="needs 8 (simulated) devices")
def test_freekd_cli_shard_runs_on_all_devices(main, planetoid_dir, tmp_path):
  out = tmp_path / "r.json"
  argv = ["graphs", "freekd", "--dataset", "cora", "--data-dir", str(planetoid_dir), "--seeds", "1"]
  argv += ["--epochs", "6", "--warmup", "2", "--shard", "--json", str(out), "--no-progress"]
  assert main(argv) == 0
  res = json.loads(out.read_text())
  assert res["devices"] == 8
  accs = np.array(res["baseline_test_acc"] + res["test_acc"][0])
  assert np.all((accs >= 0) & (accs <= 1)) and accs.max() > 0.3


def test_deprecated_top_level_name_still_runs(main, planetoid_dir, tmp_path, capsys):
  out = tmp_path / "r.json"
  argv = ["freekd", "--data-dir", str(planetoid_dir), "--seeds", "1", "--epochs", "3"]
  argv += ["--warmup", "1", "--no-baseline", "--json", str(out), "--no-progress"]
  with pytest.warns(DeprecationWarning, match="fira-jax graphs freekd"):
    assert main(argv) == 0
  assert len(json.loads(out.read_text())["test_acc"]) == 1
  assert "deprecated" in capsys.readouterr().err


def test_config_flags_have_docstring_help_and_variant_defaults():
  import argparse

  from graphs import FreeKDConfig
  from graphs.freekd import cli as freekd_cli

  parser = argparse.ArgumentParser()
  freekd_cli.add_arguments(parser)
  text = parser.format_help()
  assert "weight of the node-level (soft-label) distillation. (default: 1.0)" in " ".join(
    text.split()
  )
  assert "spec" not in FreeKDConfig.__doc__
  plus = freekd_cli.variant_config("plusplus", parser.parse_args(["--edge-drop-rate", "0.3"]))
  assert (plus.feature_mask_rate, plus.edge_drop_rate) == (0.1, 0.3)
  prompt = freekd_cli.variant_config("prompt", parser.parse_args(["--reward", "local"]))
  assert (prompt.prompt, prompt.reward) == ("shared", "local")
  assert freekd_cli.variant_config("freekd") == FreeKDConfig()


@pytest.mark.parametrize("variant", ["dml", "teacher_kd"])
def test_freekd_cli_dml_and_teacher_kd(main, planetoid_dir, tmp_path, variant):
  out = tmp_path / "r.json"
  argv = ["graphs", "freekd", "--dataset", "cora", "--data-dir", str(planetoid_dir)]
  argv += ["--variant", variant, "--seeds", "1", "--epochs", "4", "--warmup", "1"]
  argv += ["--teacher-layers", "3", "--no-baseline", "--json", str(out), "--no-progress"]
  assert main(argv) == 0
  res = json.loads(out.read_text())
  k = 2 if variant == "dml" else 1
  assert res["num_gnns"] == k and len(res["test_acc"][0]) == k
  if variant == "dml":
    assert res["config"]["direction"] == "mutual" and res["config"]["rho"] == 0.0


@pytest.mark.parametrize(
  "args, message",
  [
    (["--variant", "teacher_kd", "--num-gnns", "2"], "teacher_kd trains one student"),
    (["--variant", "teacher_kd", "--backbone", "gcn,gat"], "teacher_kd takes one --backbone"),
    (["--variant", "teacher_kd", "--teacher-layers", "2"], "deeper than the 2-layer"),
  ],
)
def test_freekd_cli_teacher_kd_errors(main, planetoid_dir, capsys, args, message):
  rc = main(["graphs", "freekd", "--data-dir", str(planetoid_dir), "--no-progress", *args])
  assert rc == 2
  assert message in capsys.readouterr().err
