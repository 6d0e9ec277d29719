"""`fira-jax fira compare`: a real, small comparison."""

import pytest

import fira_jax._compare
from fira_jax.lab import cli
from fira_jax.train.cli_compare import run_comparison


def test_comparison_trains_every_optimizer_and_reports_state_bytes():
  rows = {r["optimizer"]: r for r in run_comparison(steps=100, width=64, rank=8, progress=False)}
  assert set(rows) == {"adamw", "galore", "fira"}
  for r in rows.values():  # every optimizer must learn
    assert r["eval_loss"] < 0.7 * r["initial_eval_loss"], r
  # Fira = GaLore's state + one float32 limiter scalar per kernel (3) + the limiter's counter.
  assert rows["fira"]["state_bytes"] == rows["galore"]["state_bytes"] + 3 * 4 + 4
  assert rows["adamw"]["state_bytes"] > 2 * rows["fira"]["state_bytes"]


def test_cli_prints_the_table(capsys):
  assert (
    cli.main(["fira", "compare", "--no-progress", "--steps", "30", "--width", "32", "--rank", "4"])
    == 0
  )
  out = capsys.readouterr().out
  lines = [line for line in out.splitlines() if line.startswith("| ")]
  assert [line.split("|")[1].strip() for line in lines[1:]] == ["adamw", "galore", "fira"]


def test_cli_rejects_bad_arguments(capsys):
  assert cli.main(["fira", "compare", "--steps", "0"]) == 2
  assert "--steps" in capsys.readouterr().err


def test_old_module_and_command_still_work(capsys):
  assert fira_jax._compare.run_comparison is run_comparison
  with pytest.warns(DeprecationWarning, match="fira-jax fira compare"):
    assert (
      cli.main(["compare", "--no-progress", "--steps", "2", "--width", "8", "--rank", "2"]) == 0
    )
  assert "| fira |" in capsys.readouterr().out
