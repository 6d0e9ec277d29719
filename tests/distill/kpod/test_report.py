"""The KPOD report rendered from the committed runs files: the numbers of the published tables."""

import pathlib

import pytest

from distill import kpod
from fira_jax.lab.results import read_runs

RESULTS = pathlib.Path(__file__).resolve().parents[3] / "benchmarks" / "results" / "distill"


def _render(name: str) -> str:
  path = RESULTS / f"{name}_runs.jsonl"
  return kpod.render_report(read_runs(path), command="test", merged=[path])


def test_h200_runs_render_the_published_table():
  text = _render("kpod")
  assert "| CoT distillation (uniform token loss) | 13.0 ± 7.1 | 3.3 ± 1.1 |" in text
  assert "| token weighting only | 14.7 ± 9.6 | 2.9 ± 1.1 |" in text
  assert "| KPOD (weighting + progressive) | 7.8 ± 3.3 | 2.8 ± 1.9 |" in text
  assert "| answer only | 2.6 ± 1.0 | 2.5 ± 1.0 | 3.0/2.0, 1.0/3.0," in text
  assert "| 0 | 0.469 ± 0.114 (15,224) | 0.471 ± 0.114 (10,637) |" in text
  assert "1 × NVIDIA H200 (runs on it; five processes" in text
  assert "Seeds: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]" in text
  # Paired over the 10 seeds (the mean differences quoted in the notes).
  assert "| token weighting only | +1.7 [" in text and "| answer only | -10.4 [" in text


def test_cpu_runs_render_the_published_table():
  text = _render("kpod_cpu")
  assert "| CoT distillation (uniform token loss) | 8.0 ± 1.4 | 3.0 ± 0.8 |" in text
  row = "| progressive schedule only | 6.7 ± 3.3 | 3.7 ± 3.8 | 3.0/9.0, 6.0/1.0, 11.0/1.0 | 212 |"
  assert row in text
  assert "AMD EPYC, no GPU" in text


@pytest.mark.parametrize("name", ["kpod", "kpod_cpu"])
def test_committed_reports_are_the_rendered_ones(name):
  # Everything above the hand-written notes is what the report code renders from the runs.
  path = RESULTS / f"{name}_runs.jsonl"
  command = f"fira-jax distill kpod --merge benchmarks/results/distill/{name}_runs.jsonl"
  rendered = kpod.render_report(read_runs(path), command=command, merged=[path])
  committed = (RESULTS / f"{name}.md").read_text(encoding="utf-8")
  assert committed.split(kpod.NOTES_MARKER)[0] == rendered + "\n"


def test_settings_round_trip_and_mixed_runs_are_refused():
  runs = read_runs(RESULTS / "kpod_cpu_runs.jsonl")
  cfg = kpod.config_of(runs)
  assert cfg.epochs == 16 and cfg.alpha == 0.05 and cfg.problems.max_steps == 3
  assert kpod.KPODConfig.from_dict(cfg.to_dict()) == cfg
  other = {**runs[0], "settings": {**runs[0]["settings"], "epochs": 8}}
  with pytest.raises(ValueError, match=r"different settings \(epochs\)"):
    kpod.config_of([runs[1], other])
  with pytest.raises(ValueError, match="KPODConfig does not have"):
    kpod.KPODConfig.from_dict({"bogus": 1})
