"""The ``fira-jax distill kpod`` command, run in-process."""

import json
import types

import pytest

from distill.kpod import cli as kpod_cli
from fira_jax.lab import cli
from fira_jax.lab.results import read_runs


def _fake_train(method, prep, cfg, seed, **kw):
  # The training itself is tested in test_experiment; here the command's plumbing.
  kw["metrics_log"].write({"method": method, "seed": seed, "epoch": 0})
  acc = {"answer_only": 0.25, "cot": 0.3, "kpod": 0.5}[method] + 0.1 * seed
  return {
    "method": method,
    "seed": seed,
    "accuracy": acc,
    "ood_accuracy": acc / 2,
    "curve": [acc] * cfg.epochs,
    "losses": [1.0],
    "generated_fraction": [],
    "sample": "x #### 1",
    "train_seconds": 1.0,
  }


@pytest.fixture
def fake_training(monkeypatch):
  seen = []
  prep = types.SimpleNamespace(weight_stats={"digit": (0.5, 0.0, 1)})

  def fake_prepare(cfg, seed, progress):
    seen.append(cfg)
    return prep

  monkeypatch.setattr(kpod_cli, "prepare", fake_prepare)
  monkeypatch.setattr(kpod_cli, "train_method", _fake_train)
  return prep, seen


def test_kpod_writes_a_report_and_its_runs(fake_training, tmp_path, capsys):
  prep, seen = fake_training
  prep.weight_stats = {
    "digit": (0.75, 0.25, 40),
    "operand": (0.5, 0.25, 30),
    "final result": (1.0, 0.0, 10),
    "operator": (0.5, 0.125, 20),
    "other": (0.0625, 0.0, 60),
  }
  out = tmp_path / "kpod.md"
  argv = ["distill", "kpod", "--smoke", "--seeds", "0", "1", "--methods", "answer_only", "kpod"]
  argv += ["--epochs", "2", "--out", str(out), "--quiet"]
  argv += ["--weighting-positions", "none", "--weighting-steps", "20", "--weighting-warmup", "5"]
  assert cli.main(argv) == 0
  assert [(c.weighting_positions, c.weighting_steps, c.weighting_warmup) for c in seen] == [
    ("none", 20, 5)
  ] * 2
  text = out.read_text()
  assert "20 steps (5 predictor warm-up)" in text and "none positions" in text
  assert "| answer only | 30.0 ± 5.0 | 15.0 ± 2.5 | 25.0/12.5, 35.0/17.5 |" in text
  assert "| KPOD (weighting + progressive) | 55.0 ± 5.0 |" in text
  assert (
    "| 1 | 0.750 ± 0.250 (40) | 0.500 ± 0.250 (30) | – | 1.000 ± 0.000 (10) "
    "| 0.500 ± 0.125 (20) | 0.062 ± 0.000 (60) |"
  ) in text
  assert (
    "46.74" in text
    and "no GPU" in text
    and "`fira-jax distill kpod --seeds 0 1 --methods answer_only kpod --smoke --epochs 2 "
    "--weighting-steps 20 --weighting-warmup 5 --weighting-positions none`"
    in text
  )
  assert "Paired difference" not in text  # no CoT run to pair with
  runs = read_runs(tmp_path / "kpod_runs.jsonl")
  assert [(r["method"], r["seed"]) for r in runs] == [
    ("answer_only", 0),
    ("kpod", 0),
    ("answer_only", 1),
    ("kpod", 1),
  ]
  run = runs[0]
  assert run["settings"]["epochs"] == 2 and run["settings"]["problems"]["max_steps"] == 3
  assert run["metrics"]["accuracy"] == 0.25 and run["metrics"]["weight_stats"]["digit"][2] == 40
  assert "losses" not in run["metrics"] and "no GPU" in run["machine"]
  assert run["command"].startswith("fira-jax distill kpod --seeds 0 1")
  lines = (tmp_path / "kpod_metrics.jsonl").read_text().splitlines()
  assert len(lines) == 4 and json.loads(lines[0])["epoch"] == 0
  assert "seed 0 answer_only" in capsys.readouterr().out


def test_kpod_report_pairs_methods_with_cot(fake_training, tmp_path):
  out = tmp_path / "kpod.md"
  argv = ["distill", "kpod", "--smoke", "--seeds", "0", "1", "2", "--methods", "cot", "kpod"]
  assert cli.main([*argv, "--out", str(out), "--quiet"]) == 0
  # KPOD minus CoT is +20 points on every seed: the interval collapses onto it.
  assert "| KPOD (weighting + progressive) | +20.0 [+20.0, +20.0] | +10.0 [+10.0, +10.0] | 3 |" in (
    out.read_text()
  )


def test_kpod_merges_runs(fake_training, tmp_path, capsys):
  # One seed per process (or machine), then one report: the same tables as one run.
  common = ["--smoke", "--methods", "answer_only", "kpod", "--epochs", "2", "--quiet"]
  for seeds, name in ((["0", "1"], "both"), (["0"], "s0"), (["1"], "s1")):
    argv = ["distill", "kpod", "--seeds", *seeds, *common, "--out", str(tmp_path / f"{name}.md")]
    assert cli.main(argv) == 0
  parts = [str(tmp_path / "s1_runs.jsonl"), str(tmp_path / "s0_runs.jsonl")]
  out = tmp_path / "merged.md"
  # The settings come from the runs: no option needed.
  assert cli.main(["distill", "kpod", "--merge", *parts, "--out", str(out)]) == 0
  both, merged = (tmp_path / "both.md").read_text(), out.read_text()
  assert merged[merged.index("## Exact") :] == both[both.index("## Exact") :]
  assert "Merged from 2 runs files" in merged and "`s1_runs.jsonl`, `s0_runs.jsonl`" in merged
  assert "no GPU" in merged  # the machine each run recorded
  strip = lambda runs: [{k: v for k, v in r.items() if k != "command"} for r in runs]  # noqa: E731
  assert strip(read_runs(tmp_path / "merged_runs.jsonl")) == strip(
    read_runs(tmp_path / "both_runs.jsonl")
  )
  assert "--merge" in merged.splitlines()[2]
  # The options a merge repeats must be the runs' own.
  assert cli.main(["distill", "kpod", *common, "--merge", *parts, "--out", str(out)]) == 0
  # Runs without a recorded machine take --machine.
  bare = tmp_path / "bare_runs.jsonl"
  bare.write_text(
    "".join(
      json.dumps({**r, "machine": None}) + "\n" for r in read_runs(tmp_path / "s0_runs.jsonl")
    )
  )
  argv = ["distill", "kpod", "--merge", str(bare), "--machine", "one H200", "--out", str(out)]
  assert cli.main(argv) == 0
  assert "Machine: one H200." in out.read_text()
  capsys.readouterr()
  # Bad inputs: a missing file, a (method, seed) twice, not a runs file, other settings.
  for extra, message in (
    (["--merge", str(tmp_path / "nope.jsonl")], "--merge: no runs file"),
    (["--merge", parts[0], parts[0]], "repeats the run"),
    (["--merge", str(tmp_path / "both.md")], "is not JSON"),
  ):
    assert cli.main(["distill", "kpod", *extra, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
  argv = ["distill", "kpod", "--smoke", "--epochs", "3", "--merge", parts[0], "--out", str(out)]
  assert cli.main(argv) == 2
  assert "trained with epochs = 2, the settings given say 3" in capsys.readouterr().err
  other = tmp_path / "other.md"
  argv = ["distill", "kpod", "--seeds", "2", *common, "--alpha", "0.1", "--out", str(other)]
  assert cli.main(argv) == 0
  argv = ["distill", "kpod", "--merge", parts[0], str(tmp_path / "other_runs.jsonl")]
  assert cli.main([*argv, "--out", str(out)]) == 2
  assert "different settings (alpha)" in capsys.readouterr().err


def test_kpod_bad_argument(capsys):
  assert cli.main(["distill", "kpod", "--epochs", "0"]) == 2
  assert "--epochs must be >= 1" in capsys.readouterr().err
  argv = ["distill", "kpod", "--weighting-steps", "10", "--weighting-warmup", "10"]
  assert cli.main(argv) == 2
  assert "--weighting-warmup (10) must be smaller than --weighting-steps (10)" in (
    capsys.readouterr().err
  )
  assert cli.main(["distill", "kpod", "--alpha", "-1"]) == 2
  assert "--alpha must be >= 0" in capsys.readouterr().err


def test_every_setting_has_a_flag_with_help(capsys):
  with pytest.raises(SystemExit):
    cli.main(["distill", "kpod", "--help"])
  out = capsys.readouterr().out
  for flag in ("--num-train", "--weighting-pool", "--no-freeze-predictor", "--curve-size"):
    assert flag in out
  assert "answer-predictor warm-up steps" in out  # from the KPODConfig docstring


def test_deprecated_name_still_runs(fake_training, tmp_path, capsys):
  out = tmp_path / "kpod.md"
  with pytest.warns(DeprecationWarning, match="fira-jax distill kpod"):
    argv = ["kpod-compare", "--smoke", "--seeds", "0", "--methods", "kpod", "--quiet"]
    assert cli.main([*argv, "--out", str(out)]) == 0
  assert "deprecated" in capsys.readouterr().err and out.is_file()


def test_machine_line_names_an_accelerator(monkeypatch):
  import jax

  assert "no GPU" in kpod_cli.describe_machine()  # the tests run on the CPU
  gpu = types.SimpleNamespace(platform="gpu", device_kind="NVIDIA H200")
  monkeypatch.setattr(jax, "devices", lambda: [gpu, gpu])
  line = kpod_cli.describe_machine()
  assert "2 × NVIDIA H200 (runs on it)" in line and "no GPU" not in line
