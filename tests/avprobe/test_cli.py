"""``fira-jax avprobe run`` and ``export`` end to end, in process."""

import json

import pytest

from fira_jax.lab import cli

SMALL = ["--n", "2", "--sr", "8000", "--duration", "0.2", "--no-progress", "--n-boot", "0"]


def test_run_oracle_writes_the_report(tmp_path, capsys):
  out = tmp_path / "r.json"
  argv = ["avprobe", "run", "--model", "oracle", "--tasks", "loudness,pitch", "counting"]
  assert cli.main([*argv, *SMALL, "--json", str(out)]) == 0
  report = json.loads(out.read_text())
  assert set(report["tasks"]) == {"loudness", "pitch", "counting"}
  assert report["overall"]["acc"] == 1.0
  assert "| loudness | 14 | 1.000 |" in capsys.readouterr().out


def test_run_module_callable_in_strict_mode(tmp_path):
  out = tmp_path / "r.json"
  argv = ["avprobe", "run", "--model", "avprobe:rms_oracle", "--tasks", "loudness", "--mode"]
  assert cli.main([*argv, "strict", *SMALL, "--json", str(out)]) == 0
  assert json.loads(out.read_text())["mode"] == "strict"


def test_export(tmp_path, capsys):
  argv = ["avprobe", "export", "--out", str(tmp_path), "--tasks", "duration"]
  assert cli.main([*argv, "--n", "1", "--sr", "8000", "--no-progress"]) == 0
  lines = (tmp_path / "manifest.jsonl").read_text().splitlines()
  assert len(lines) == 5 and len(list((tmp_path / "audio").glob("*.wav"))) == 10
  assert "wrote 5 items" in capsys.readouterr().out


@pytest.mark.parametrize(
  "extra, message",
  [
    (["--tasks", "timbre"], "tasks must be among"),
    (["--sr", "0"], "sr"),
    (["--duration", "-1"], "duration"),
    (["--model", "gpt"], "model must be one of"),
  ],
)
def test_user_errors_are_one_line(extra, message, capsys):
  assert cli.main(["avprobe", "run", "--no-progress", "--n", "1", *extra]) == 2
  err = capsys.readouterr().err.strip()
  assert err.startswith("fira-jax avprobe run: error:") and message in err
  assert "\n" not in err
