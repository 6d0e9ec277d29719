"""The FreeKD results page renders from the committed runs file with the published numbers."""

import pathlib

import pytest

from fira_jax.lab import results

ROOT = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def bench(load_script):
  return load_script("graphs/freekd_compare")


def _cells(text: str, *first: str) -> list[str]:
  """The cells of the table rows that start with ``first``."""
  rows = [
    [c.strip() for c in line.strip().strip("|").split("|")]
    for line in text.splitlines()
    if line.startswith("|")
  ]
  return [r for r in rows if r[: len(first)] == list(first)]


def test_report_renders_the_committed_runs(bench, tmp_path):
  out = tmp_path / "freekd.md"
  text = bench.main(["--report", "--out", str(out)]) or out.read_text()
  assert text == (ROOT / "benchmarks" / "results" / "graphs" / "freekd.md").read_text()
  glance = _cells(text, "cora", "gcn", "82.27 ± 0.92")
  assert glance[0][3] == "+0.24 ± 0.64" and glance[0][6] == "-5.04 ± 1.03"
  single, freekd = _cells(text, "cora", "gcn", "single"), _cells(text, "cora", "gcn", "freekd")
  assert single[0][4] == "82.27 ± 0.92" and single[0][8] == "0.129"  # public split
  assert freekd[0][4:7] == ["82.51 ± 0.83, 82.51 ± 0.53", "82.51 ± 0.41", "+0.24 ± 0.64"]
  assert freekd[0][7].startswith("+0.24 [") and freekd[0][9] == "86.84"
  gpu = _cells(text, "cora", "gcn", "random_direction")[1]  # random split: H200 runs only
  assert gpu[8] == "0.006 (gpu (NVIDIA H200))" and gpu[6] == "-0.37 ± 0.63"
  assert "## What the numbers say" in text and "{{TABLES}}" not in text


def test_runs_file_is_in_the_harness_format(bench):
  runs = results.read_runs(bench.RUNS, key=bench.KEY)
  runs = [r for r in runs if "protocol" not in r["settings"]]  # the first grid
  assert len(runs) == 730
  assert {r["machine"].split(",")[0] for r in runs} == {
    "2 CPU cores (`nproc` = 2)",
    "16 CPU cores (`nproc` = 16)",
  }
  assert all("freekd_compare.py" in r["command"] for r in runs)
  plus = next(r for r in runs if r["method"] == "plusplus")
  assert plus["settings"]["num_gnns"] == 3 and len(plus["metrics"]["test_acc"]) == 3
  assert plus["settings"]["config"]["edge_drop_rate"] == 0.1


def test_run_appends_resumable_records(bench, tmp_path, dataset_dir):
  runs = tmp_path / "runs.jsonl"
  argv = ["--data-dir", str(dataset_dir("planetoid")), "--runs", str(runs)]
  argv += ["--datasets", "cora", "--backbones", "gcn", "--methods", "single,freekd"]
  argv += ["--seeds", "1", "--epochs", "3", "--patience", "3"]
  bench.main(argv)
  bench.main(argv)  # everything done: nothing appended
  recs = results.read_runs(runs, key=bench.KEY)
  assert [r["method"] for r in recs] == ["single", "freekd@default"]
  freekd = recs[1]
  assert freekd["settings"]["config"]["warmup"] == 20 and freekd["settings"]["epochs"] == 3
  assert len(freekd["metrics"]["test_acc"]) == 2 and "final_share_sender" in freekd["metrics"]
  assert "freekd_compare" in freekd["command"] and freekd["machine"]
  page = bench.main(["--report", "--runs", str(runs), "--out", str(tmp_path / "p.md")])
  text = (tmp_path / "p.md").read_text()
  assert page is None and "| freekd | default | 1 |" in text and "#### cora, gcn, public" in text


def test_grid_selects_on_validation(bench, tmp_path, dataset_dir):
  runs = tmp_path / "runs.jsonl"
  argv = ["--data-dir", str(dataset_dir("planetoid")), "--runs", str(runs)]
  argv += ["--datasets", "cora", "--backbones", "gcn", "--epochs", "3", "--patience", "3"]
  grid = ["--grid", "mu=1,temperature=1;mu=3,temperature=2"]
  bench.main([*argv, "--methods", "single,dml,teacher_kd", "--seeds", "1", *grid])
  recs = results.read_runs(runs, key=bench.KEY)
  assert {r["method"] for r in recs} == {
    "single", "dml@mu1_temperature1", "dml@mu3_temperature2",
    "teacher_kd@mu1_temperature1", "teacher_kd@mu3_temperature2",
  }  # fmt: skip
  kd = next(r for r in recs if r["method"].startswith("teacher_kd"))
  assert kd["metrics"]["teacher_layers"] > kd["metrics"]["student_layers"] == 2
  picked = bench.select(recs, {0})
  bench.main([*argv, "--methods", "dml", "--seeds", "2", *grid, "--extend-selected",
              "--select-seeds", "1"])  # fmt: skip
  recs = results.read_runs(runs, key=bench.KEY)
  seed1 = [r["method"] for r in recs if r["seed"] == 1]
  assert seed1 == [f"dml@{picked[('cora', 'public', 'gcn', 'dml')]}"]
  with pytest.raises(ValueError, match="FreeKDConfig field=value"):
    bench.parse_grid("mu=1,bogus=2")


def _fake(method, tag, seed, val, test, split="public", backbone="gcn"):
  settings = {"protocol": "selected", "dataset": "cora", "split": split, "backbone": backbone}
  settings.update(base_method=method, tag=tag)
  metrics = {"val_acc": [val], "test_acc": [test]}
  name = method if method == "single" else f"{method}@{tag}"
  return results.make_record(name, seed, settings, metrics, command="x", machine="m")


def test_jobs_seed_major_and_transferred_selection(bench):
  grid = "mu=1,temperature=1;mu=3,temperature=2"
  existing = [
    _fake("dml", "mu1_temperature1", 0, 0.80, 0.8),
    _fake("dml", "mu3_temperature2", 0, 0.82, 0.8),
  ]
  args = bench.argparse.Namespace(
    grid=grid, extend_selected=False, selected_from="public:gcn", select_seeds=1,
    seeds=2, seed_start=0, datasets="cora", split="public,random", backbones="gcn,gat",
    methods="single,dml", seed_major=True,
  )  # fmt: skip
  jobs = bench.jobs(args, existing)
  assert [j[5] for j in jobs] == [0] * 8 + [1] * 8  # every cell's seed 0 first
  assert [j[:4] for j in jobs[:3]] == [
    ("cora", "public", "gcn", "single"), ("cora", "public", "gcn", "dml"),
    ("cora", "public", "gat", "single"),
  ]  # fmt: skip
  dml = [j for j in jobs if j[3] == "dml"]
  assert all(j[4] == {"mu": 3.0, "temperature": 2.0} and j[6] == "public:gcn" for j in dml)
  args.selected_from = "random:sage"
  with pytest.raises(ValueError, match="no selection"):
    bench.jobs(args, existing)


def test_overview_pairs_by_seed(bench):
  runs = [_fake("single", "", s, 0.8, 0.80 + 0.01 * s) for s in range(3)]
  runs += [_fake("dml", "t", s, 0.8, 0.82 + 0.01 * s) for s in range(3)]
  runs += [_fake("freekd", "t", 0, 0.8, 0.81)]
  table = bench.overview_table(runs, 3)
  row = _cells(table, "cora", "public", "gcn")[0]
  assert row[3] == "81.00 ± 0.82" and row[4].startswith("+2.00 [+2.00, +2.00] (n=3)")
  assert row[5] == "+1.00 (n=1)" and row[6] == "-1.00 (n=1)" and row[7] == "–"
  runs += [
    _fake("single", "", 0, 0.8, 0.80, backbone="gat"),
    _fake("dml", "t", 0, 0.8, 0.84, backbone="gat"),
  ]
  mean = _cells(bench.overview_table(runs, 3), "mean over cells")[0]
  assert mean[4].startswith("+3.00 [-9.71, +15.71] (n=2)") and mean[5] == "+1.00 (n=1)"
