"""``fira-jax plot`` on any package's metrics file: epochs, groups, filters."""

import json

import pytest

from fira_jax.lab import plot
from fira_jax.lab.cli import main


def _write(path, records):
  path.write_text("".join(json.dumps(r) + "\n" for r in records))
  return str(path)


def test_one_curve_per_group_on_the_epoch_axis(tmp_path):
  rows = [
    {"method": m, "seed": s, "epoch": e, "acc": 0.1 * e + s}
    for m in ("cot", "kpod")
    for s in (0, 1)
    for e in range(3)
  ]
  f = _write(tmp_path / "kpod.metrics.jsonl", rows)
  curves = plot._curves(f, "acc", None, "method", ["seed=1"])
  assert [c[0] for c in curves] == [
    "kpod.metrics.jsonl method=cot",
    "kpod.metrics.jsonl method=kpod",
  ]
  assert curves[0][3] == "epoch" and list(curves[0][1]) == [0, 1, 2]
  assert list(curves[1][2]) == pytest.approx([1.0, 1.1, 1.2])
  out = tmp_path / "acc.png"
  argv = ["plot", f, "--metric", "acc", "--group", "method", "--where", "seed=0", "--out", str(out)]
  assert main(argv) == 0 and out.read_bytes()[:4] == b"\x89PNG"


def test_filter_errors_are_clear(tmp_path, capsys):
  f = _write(tmp_path / "m.jsonl", [{"epoch": 0, "acc": 1.0, "method": "a"}])
  assert main(["plot", f, "--metric", "acc", "--where", "method=b", "--out", "x.png"]) == 2
  assert "no 'acc' records matching --where" in capsys.readouterr().err
  assert main(["plot", f, "--metric", "acc", "--where", "method", "--out", "x.png"]) == 2
  assert "FIELD=VALUE" in capsys.readouterr().err
