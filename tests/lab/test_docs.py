"""The example of docs/lab.md runs as written."""

import pathlib
import re

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "lab.md"


def test_lab_page_example_runs(tmp_path, monkeypatch, capsys):
  blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
  assert blocks, "docs/lab.md has no python example"
  monkeypatch.chdir(tmp_path)
  exec(compile(blocks[0], str(DOC), "exec"), {})
  best, best_epoch, steps = capsys.readouterr().out.split()
  assert float(best) > 0.9 and int(steps) <= 200
  assert (tmp_path / "runs" / "demo" / "metrics.jsonl").stat().st_size > 0
