"""The `fira-jax compare` job: a real, small comparison."""

from fira_jax import cli
from fira_jax._compare import run_comparison


def test_comparison_trains_every_optimizer_and_reports_state_bytes():
  rows = {r["optimizer"]: r for r in run_comparison(steps=100, width=64, rank=8, progress=False)}
  assert set(rows) == {"adamw", "galore", "fira"}
  for r in rows.values():  # every optimizer must learn
    assert r["eval_loss"] < 0.7 * r["initial_eval_loss"], r
  # Fira = GaLore's state + one float32 limiter scalar per kernel (3) + the limiter's counter.
  assert rows["fira"]["state_bytes"] == rows["galore"]["state_bytes"] + 3 * 4 + 4
  assert rows["adamw"]["state_bytes"] > 2 * rows["fira"]["state_bytes"]


def test_cli_prints_the_table(capsys):
  assert cli.main(["compare", "--steps", "30", "--width", "32", "--rank", "4"]) == 0
  out = capsys.readouterr().out
  lines = [line for line in out.splitlines() if line.startswith("| ")]
  assert [line.split("|")[1].strip() for line in lines[1:]] == ["adamw", "galore", "fira"]


def test_cli_rejects_bad_arguments(capsys):
  assert cli.main(["compare", "--steps", "0"]) == 2
  assert "--steps" in capsys.readouterr().err
