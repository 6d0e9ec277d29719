"""The GPU suite's --smoke run: every row written, AdamW the unit, state bytes analytic."""

import pytest

from fira_jax.lab.results import read_runs
from fira_jax.models import CONFIGS


@pytest.fixture(scope="module")
def suite(load_script):
  return load_script("gpu_suite")


@pytest.fixture(scope="module")
def smoke(suite, tmp_path_factory):
  out = tmp_path_factory.mktemp("gpu")
  assert suite.main(["--smoke", "--out", str(out)]) == 0
  return out


def analytic_bytes(model: str, optimizer: str, rank: int | None) -> int:
  """bf16 states. AdamW: mu, nu of every leaf + its count. Low-rank (right projection of
  every m >= n view, as the official rule): projection r*min + moments 2*r*max per projected
  matrix (+ a float32 limiter scalar for Fira/APOLLO), mu, nu elsewhere, int32 counters."""
  cfg = CONFIGS[model]
  d, f, layers, vocab = cfg.d_model, cfg.ffn_dim, cfg.num_layers, cfg.vocab_size
  dense = 2 * vocab * d + layers * 2 * d + d
  matrices = ([(d, d)] * 4 + [(d, f)] * 2 + [(f, d)]) * layers
  if optimizer == "adamw":
    return 2 * 2 * (dense + sum(m * n for m, n in matrices)) + 4
  limiter = optimizer != "galore"
  total = 2 * 2 * dense + 4 * (4 if limiter else 3)
  for m, n in matrices:
    r = min(rank, m, n)
    total += 2 * (r * min(m, n) + 2 * r * max(m, n)) + (4 if limiter else 0)
  return total


def test_smoke_run_writes_every_row_with_adamw_as_the_unit(suite, smoke):
  md = (smoke / "gpu.md").read_text()
  runs = read_runs(smoke / "gpu_runs.jsonl", key=("settings.part", "settings.model", "method"))
  part_a = [r for r in runs if r["settings"]["part"] == "a"]
  assert [r["method"] for r in part_a] == list(suite.OPTIMIZERS)
  assert all("error" not in r for r in runs), [r.get("error") for r in runs]
  for r in part_a:
    m = r["metrics"]
    assert 0 < m["ordinary_s"] and 0 < m["refresh_s"]
    assert m["amortized_s"] == pytest.approx((199 * m["ordinary_s"] + m["refresh_s"]) / 200)
    optimizer = "fira" if r["method"].startswith("fira") else r["method"]
    assert m["state_bytes"] == analytic_bytes("smoke", optimizer, m["rank"]), r["method"]
    assert f"| {r['method']} |" in md
  assert "| adamw | – |" in md and "| 1.00 |" in md.split("| adamw | – |")[1].split("\n")[0]
  part_b = [r for r in runs if r["settings"]["part"] == "b"]
  assert [r["method"] for r in part_b] == ["adamw", "fira"]
  assert all(r["metrics"]["tokens_per_s"] > 0 for r in part_b)
  assert "MFU" in md and "tokens/s" in md and "Machine: " in md


def test_a_failing_row_is_recorded_and_the_suite_goes_on(suite, tmp_path, monkeypatch):
  def broken(*args, **kwargs):
    raise RuntimeError("out of memory (simulated)")

  monkeypatch.setattr(suite, "bench_step", broken)
  monkeypatch.setattr(suite, "SMOKE", dict(suite.SMOKE, models=("smoke",)))
  assert suite.main(["--smoke", "--skip-e2e", "--out", str(tmp_path)]) == 0
  runs = read_runs(tmp_path / "gpu_runs.jsonl", key=("settings.model", "method"))
  assert len(runs) == len(suite.OPTIMIZERS)
  assert all(r["error"] == "RuntimeError: out of memory (simulated)" for r in runs)
  assert "error: RuntimeError" in (tmp_path / "gpu.md").read_text()


def test_rows_past_the_budget_are_skipped(suite, tmp_path):
  assert suite.main(["--smoke", "--budget-s", "0", "--out", str(tmp_path)]) == 0
  runs = read_runs(tmp_path / "gpu_runs.jsonl", key=("settings.part", "method"))
  assert runs and all(r.get("skipped") for r in runs)
  assert "Skipped (time budget)" in (tmp_path / "gpu.md").read_text()


def test_parts_append_to_the_runs_file_and_keep_the_notes(suite, tmp_path, monkeypatch):
  """Run in two calls (part a, then part b with --append): both parts are in the runs file and
  the report, and the notes below the marker survive the re-rendering (rows faked: the smoke
  test above measures real ones)."""
  step = dict(rank=1, ordinary_s=1.0, refresh_s=2.0, amortized_s=1.005, state_bytes=8,
              refresh_how="measured")  # fmt: skip
  train = dict(rank=None, step_s=0.1, tokens_per_s=10.0, model_tflops=1.0, state_bytes=8)
  monkeypatch.setattr(suite, "bench_step", lambda *a, **k: dict(step))
  monkeypatch.setattr(suite, "bench_train", lambda *a, **k: dict(train))
  out = ["--smoke", "--out", str(tmp_path)]
  assert suite.main([*out, "--parts", "a", "--optimizers", "adamw,apollo_mini"]) == 0
  md = tmp_path / "gpu.md"
  md.write_text(md.read_text() + "\n" + suite.NOTES + "\nhand-written notes\n")
  assert suite.main([*out, "--parts", "b", "--append"]) == 0
  runs = read_runs(tmp_path / "gpu_runs.jsonl", key=suite.ROW)
  assert [(r["settings"]["part"], r["method"]) for r in runs] == [
    ("a", "adamw"),
    ("a", "apollo_mini"),
    ("b", "adamw"),
    ("b", "fira"),
  ]
  text = md.read_text()
  assert "| apollo_mini |" in text and "MFU" in text and text.endswith("hand-written notes\n")
  assert "--parts a" in text and "--parts b --append" in text  # both commands are named
