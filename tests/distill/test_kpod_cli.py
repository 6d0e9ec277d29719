"""The ``fira-jax kpod-compare`` command, run in-process."""

import json
import types

import pytest

from distill import _kpod_cli
from fira_jax.lab import cli


@pytest.fixture
def only_kpod():
  return None


def _fake_train(method, prep, cfg, seed, **kw):
  # The training itself is tested in test_kpod_experiment; here the command's plumbing.
  kw["metrics_file"].write(json.dumps({"method": method, "seed": seed, "epoch": 0}) + "\n")
  acc = {"answer_only": 0.25, "kpod": 0.5}[method] + 0.1 * seed
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


def test_kpod_compare_writes_a_report(only_kpod, tmp_path, capsys, monkeypatch):
  stats = {
    "digit": (0.75, 0.25, 40),
    "operand": (0.5, 0.25, 30),
    "final result": (1.0, 0.0, 10),
    "operator": (0.5, 0.125, 20),
    "other": (0.0625, 0.0, 60),
  }
  prep = types.SimpleNamespace(weight_stats=stats)
  seen = []
  monkeypatch.setattr(_kpod_cli, "prepare", lambda cfg, seed, progress: seen.append(cfg) or prep)
  monkeypatch.setattr(_kpod_cli, "train_method", _fake_train)
  out = tmp_path / "kpod.md"
  argv = ["kpod-compare", "--smoke", "--seeds", "0", "1", "--methods", "answer_only", "kpod"]
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
    and "`fira-jax kpod-compare --seeds 0 1 --methods answer_only kpod --smoke --epochs 2 "
    "--weighting-steps 20 --weighting-warmup 5 --weighting-positions none`"
    in text
  )
  results = json.loads(out.with_suffix(".json").read_text())
  assert [r["method"] for r in results] == ["answer_only", "kpod"] * 2
  lines = out.with_suffix(".metrics.jsonl").read_text().splitlines()
  assert json.loads(lines[0])["epoch"] == 0
  assert "seed 0 answer_only" in capsys.readouterr().out


def test_kpod_compare_merges_runs(only_kpod, tmp_path, capsys, monkeypatch):
  # One seed per process (or machine), then one report: the same tables as one run.
  prep = types.SimpleNamespace(weight_stats={"digit": (0.5, 0.0, 1)})
  monkeypatch.setattr(_kpod_cli, "prepare", lambda cfg, seed, progress: prep)
  monkeypatch.setattr(_kpod_cli, "train_method", _fake_train)
  common = ["--smoke", "--methods", "answer_only", "kpod", "--epochs", "2", "--quiet"]
  for seeds, name in ((["0", "1"], "both"), (["0"], "s0"), (["1"], "s1")):
    argv = ["kpod-compare", "--seeds", *seeds, *common, "--out", str(tmp_path / f"{name}.md")]
    assert cli.main(argv) == 0
  parts = [str(tmp_path / "s1.json"), str(tmp_path / "s0.json")]
  out = tmp_path / "merged.md"
  argv = ["kpod-compare", *common, "--merge", *parts, "--out", str(out)]
  assert cli.main(argv) == 0
  both, merged = (tmp_path / "both.md").read_text(), out.read_text()
  assert merged[merged.index("## Exact") :] == both[both.index("## Exact") :]
  assert "Merged from 2 result files" in merged and "`s1.json`, `s0.json`" in merged
  assert "no GPU" in merged  # the machine each result recorded
  assert json.loads(out.with_suffix(".json").read_text()) == json.loads(
    (tmp_path / "both.json").read_text()
  )
  assert "--merge" in merged.splitlines()[2]
  # Results without a recorded machine take --machine.
  bare = tmp_path / "bare.json"
  bare.write_text(
    json.dumps(
      [
        {k: v for k, v in r.items() if k != "machine"}
        for r in json.loads((tmp_path / "s0.json").read_text())
      ]
    )
  )
  argv = ["kpod-compare", *common, "--merge", str(bare), "--machine", "one H200", "--out", str(out)]
  assert cli.main(argv) == 0
  assert "Machine: one H200." in out.read_text()
  capsys.readouterr()
  # Bad inputs: a missing file, a (seed, method) twice, other settings.
  for extra, message in (
    (["--merge", str(tmp_path / "nope.json")], "--merge: no results file"),
    (["--merge", parts[0], parts[0]], "(1, 'answer_only') appears in more than one result"),
    (["--merge", str(tmp_path / "both.md")], "is not JSON"),
  ):
    assert cli.main(["kpod-compare", *common, *extra, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
  argv = ["kpod-compare", "--smoke", "--epochs", "3", "--merge", parts[0], "--out", str(out)]
  assert cli.main(argv) == 2
  assert "trained for [2] epochs, the settings given say 3" in capsys.readouterr().err


def test_kpod_compare_bad_argument(only_kpod, capsys):
  assert cli.main(["kpod-compare", "--epochs", "0"]) == 2
  assert "--epochs must be >= 1" in capsys.readouterr().err
  argv = ["kpod-compare", "--weighting-steps", "10", "--weighting-warmup", "10"]
  assert cli.main(argv) == 2
  assert "--weighting-warmup (10) must be smaller than --weighting-steps (10)" in (
    capsys.readouterr().err
  )


def test_machine_line_names_an_accelerator(monkeypatch):
  import jax

  assert "no GPU" in _kpod_cli._machine()  # the tests run on the CPU
  gpu = types.SimpleNamespace(platform="gpu", device_kind="NVIDIA H200")
  monkeypatch.setattr(jax, "devices", lambda: [gpu, gpu])
  line = _kpod_cli._machine()
  assert "2 × NVIDIA H200 (runs on it)" in line and "no GPU" not in line
