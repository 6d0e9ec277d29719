"""``fira-jax plot``: a PNG of several runs, and its errors."""

import json

import pytest


def _run(folder, losses):
  folder.mkdir()
  lines = [json.dumps({"step": i + 1, "loss": v}) for i, v in enumerate(losses)]
  (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n")
  return str(folder)


def test_plot_two_runs_to_png(cli, tmp_path):
  a = _run(tmp_path / "fira", [5.0, 4.0, 3.5, 3.2])
  b = _run(tmp_path / "adamw", [5.0, 4.2, 3.9, 3.6])
  out = tmp_path / "figs" / "loss.png"
  assert cli(["plot", a, b, "--out", str(out), "--smooth", "2"]) == 0
  data = out.read_bytes()
  assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_plot_errors(cli, tmp_path, capsys):
  a = _run(tmp_path / "r", [1.0, 0.5])
  assert cli(["plot", a, "--out", str(tmp_path / "x.png"), "--metric", "val_ppl"]) == 2
  assert "has no 'val_ppl' records" in capsys.readouterr().err
  assert cli(["plot", str(tmp_path / "missing"), "--out", str(tmp_path / "x.png")]) == 2
  assert "no metrics file at" in capsys.readouterr().err
  with pytest.raises(SystemExit):
    cli(["plot", "--out", "x.png"])
