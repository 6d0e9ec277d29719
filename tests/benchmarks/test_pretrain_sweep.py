"""benchmarks/fira/pretrain_sweep.py: the coordinate search, grid extension and the report."""

import argparse
import json
import pathlib

import numpy as np
import pytest


@pytest.fixture(scope="module")
def sweep(load_script):
  return load_script("fira/pretrain_sweep")


def test_a_best_value_at_an_edge_extends_the_grid(sweep):
  assert sweep._extend((1e-3, 1e-2, 1e-1), 1e-2) is None
  assert sweep._extend((1e-3, 1e-2, 1e-1), 1e-1) == pytest.approx((1e-3, 1e-2, 1e-1, 1.0))
  assert sweep._extend((1e-3, 3e-3, 1e-2), 1e-3) == pytest.approx((1e-3 / 3, 1e-3, 3e-3, 1e-2))


def test_coordinate_search_finds_an_optimum_outside_the_first_grid(sweep, tmp_path):
  """With a known objective (perplexity minimal at lr = 0.5, rest_lr = 1e-3) the search walks
  past the lr grid's upper edge (0.1 → 1.0 → 10) and stops once the best is inside."""
  args = argparse.Namespace(max_extend=3, lr_grid=[1e-3, 1e-2, 1e-1], rest_grid=[1e-4, 1e-3, 1e-2],
                            rest_lr_start=1e-2, seeds=[0, 1], out=tmp_path)  # fmt: skip
  s = sweep.Sweep(args, "test")
  calls = []

  def objective(size, name, lr, rest_lr, seed, phase):
    import math

    calls.append((lr, rest_lr, seed, phase))
    return 10 + (math.log10(lr) - math.log10(0.5)) ** 2 + (math.log10(rest_lr) + 3) ** 2

  s.run = objective
  lr, rest = s.method("smoke", "fira")
  assert lr == pytest.approx(1.0)
  assert max(c[0] for c in calls) == pytest.approx(10.0)  # one step past the best, then stop
  assert rest == pytest.approx(1e-3)
  assert {c[2] for c in calls if c[3] == "seeds"} == {0, 1}


def test_the_best_pair_is_the_lowest_finite_seed0_perplexity(sweep):
  """A later, better pair (a wider rest_lr grid) replaces the seeded one; diverged runs and
  other seeds do not count."""

  def run(lr, rest, seed, ppl, phase="lr"):
    return {"method": "fira", "seed": seed, "metrics": {"val_ppl": ppl},
            "settings": {"model": "m", "lr": lr, "rest_lr": rest, "phase": phase}}  # fmt: skip

  runs = [run(1e-3, 1e-2, 0, 180.0), run(1e-3, 1e-2, 1, 170.0, "seeds"), run(1e-2, 1e-2, 0, 300.0),
          run(1e-1, 1e-2, 0, float("inf")), run(1e-3, 3e-2, 1, 100.0, "seeds")]  # fmt: skip
  assert sweep.best_pairs(runs) == {("m", "fira"): (1e-3, 1e-2)}
  runs.append(run(1e-3, 3e-2, 0, 175.0, "rest_lr"))
  assert sweep.best_pairs(runs) == {("m", "fira"): (1e-3, 3e-2)}


def test_edge_marks(sweep):
  def run(lr, rest):
    return {"method": "fira", "seed": 0, "metrics": {"val_ppl": 1.0},
            "settings": {"model": "m", "lr": lr, "rest_lr": rest}}  # fmt: skip

  runs = [run(lr, 1e-2) for lr in (1e-3, 3e-3, 1e-2)] + [run(1e-3, 3e-2), run(1e-3, 3e-3)]
  assert sweep._edge(runs, "m", "fira", "lr", 3e-3, "rest_lr", 1e-2) == ""
  assert sweep._edge(runs, "m", "fira", "lr", 1e-3, "rest_lr", 1e-2) == " (edge)"
  assert sweep._edge(runs, "m", "fira", "rest_lr", 3e-2, "lr", 1e-3) == " (edge)"
  assert sweep._edge(runs, "m", "fira", "lr", 1e-3, "rest_lr", 3e-2) == (
    " (edge; scanned at rest_lr 0.01)"
  )


def test_a_run_at_other_steps_is_not_reused(sweep, tmp_path):
  from fira_jax.lab.results import append_run, make_record

  settings = {"model": "smoke", "steps": 600, "lr": 1e-3, "rest_lr": 1e-2, "phase": "lr"}
  append_run(tmp_path / "pretrain_sweep_runs.jsonl",
             make_record("fira", 0, settings, {"val_ppl": 9.0}, command="test"))  # fmt: skip
  for steps, reused in ((600, True), (100, False)):
    s = sweep.Sweep(argparse.Namespace(out=tmp_path, steps=steps), "test")
    assert (("smoke", s.steps("smoke"), "fira", 0, 1e-3, 1e-2) in s.done) is reused


@pytest.mark.slow
def test_smoke_sweep_writes_runs_and_a_report(sweep, tmp_path, shakespeare_sample):
  out = tmp_path / "out"
  argv = ["--smoke", "--methods", "fira", "--out", str(out), "--run-dir", str(tmp_path / "r"),
          "--quiet", "--data", f"text:{shakespeare_sample}", "--lr-grid", "0.01"]  # fmt: skip
  assert sweep.main(argv) == 0
  runs = [json.loads(line) for line in (out / "pretrain_sweep_runs.jsonl").read_text().splitlines()]
  assert {r["settings"]["phase"] for r in runs} >= {"lr", "rest_lr", "seeds"}
  assert all(
    {"method", "seed", "settings", "metrics", "machine", "command"} <= set(r) for r in runs
  )
  seeded = [r for r in runs if r["settings"]["phase"] == "seeds"]
  assert {r["seed"] for r in seeded} == {1}  # seed 0 of the best pair is reused from the sweep
  report = (out / "pretrain_sweep.md").read_text()
  assert "## smoke" in report and "| fira |" in report
  assert sweep.main([*argv, "--report-only"]) == 0  # re-renders without training
  assert len((out / "pretrain_sweep_runs.jsonl").read_text().splitlines()) == len(runs)


@pytest.mark.parametrize("name", ["adamw", "lora", "galore", "fira", "fira_no_scaling",
                                  "fira_no_limiter", "apollo", "apollo_mini"])  # fmt: skip
def test_state_bytes_equal_the_formula_up_to_scalars(sweep, name):
  """The report's formula column: measured bytes (``jax.eval_shape``) minus the formula is only
  the step counters (a few int32 scalars)."""
  import jax

  from fira_jax import optimizer_state_bytes
  from fira_jax.models import get_config
  from fira_jax.train import make_optimizer

  cfg = get_config("smoke")
  d, f, v = cfg.d_model, cfg.ffn_dim, cfg.vocab_size
  shapes = {"embed/embedding": (v, d), "lm_head/kernel": (d, v), "norm/scale": (d,)}
  for i in range(cfg.num_layers):
    for k in ("q", "k", "v", "o"):
      shapes[f"layers/{i}/attn/{k}_proj/kernel"] = (d, d)
    shapes |= {f"layers/{i}/mlp/gate_proj/kernel": (d, f), f"layers/{i}/mlp/up_proj/kernel": (d, f),
               f"layers/{i}/mlp/down_proj/kernel": (f, d), f"layers/{i}/attn_norm/scale": (d,),
               f"layers/{i}/mlp_norm/scale": (d,)}  # fmt: skip
  params = {k: jax.ShapeDtypeStruct(s, "float32") for k, s in shapes.items()}
  optimizer, options, _ = sweep.METHODS[name]
  tx = make_optimizer(optimizer, learning_rate=1e-3, params=params, rank=8, fira_options=options,
                      rest_lr_scale=0.3)  # fmt: skip
  measured = optimizer_state_bytes(tx, params)
  n = sum(int(np.prod(s)) for s in shapes.values())
  run = {"metrics": {"params": n, "frozen_params": 0}, "settings": {"model": "smoke", "rank": 8}}
  assert 0 <= measured - sweep.analytic_state_bytes(name, run) <= 64


def _stats_line(step: int, limited: float, rho: float, share: float) -> str:
  leaf = {"phi_0": 1.0, "phi_10": 2.0, "phi_50": 3.0, "phi_90": 4.0, "phi_100": 5.0,
          "phi_mean": 3.0, "limited": limited, "rho": rho, "residual_share": share,
          "low_rank_norm": 1.0, "residual_norm": 2.0, "update_norm": 3.0}  # fmt: skip
  names = ["layers/0/attn/q_proj/kernel", "layers/0/attn/v_proj/kernel",
           "layers/0/mlp/down_proj/kernel"]  # fmt: skip
  return json.dumps({"step": step, "leaves": {n: leaf for n in names}})


def test_diagnose_at_other_rates_keeps_the_stale_tuned_file(sweep, tmp_path, monkeypatch):
  """The statistics run follows the tuned pair: a file from an earlier tuned pair is kept
  under that pair's name, ``--diagnose-at`` pairs get their own file, each is trained once,
  and the report compares them with the validation perplexity the run returned."""
  import fira_jax.train
  from fira_jax.lab.results import append_run, make_record

  out = tmp_path / "out"
  out.mkdir()
  for lr, rest, ppl in ((3e-3, 3e-3, 278.0), (1e-3, 3e-2, 159.0), (3e-3, 3e-2, 163.0)):
    settings = {"model": "smoke", "steps": 6, "lr": lr, "rest_lr": rest, "phase": "lr",
                "batch_size": 8, "seq_len": 32, "rank": 8, "alpha": 0.25}  # fmt: skip
    metrics = {"val_ppl": ppl, "tokens_per_s": 1.0, "optimizer_state_bytes": 8, "params": 1,
               "frozen_params": 0}  # fmt: skip
    append_run(out / "pretrain_sweep_runs.jsonl",
               make_record("fira", 0, settings, metrics, command="t"))  # fmt: skip
  stale = json.dumps({"run": {"model": "smoke", "lr": 3e-3, "rest_lr": 3e-3, "every": 2}})
  (out / sweep.STATS).write_text(stale + "\n" + _stats_line(1, 1.0, 2.0, 0.8) + "\n")
  trained = []

  def fake_train(config):  # writes what --fira-stats-every writes
    trained.append((config.lr, config.rest_lr, config.fira_stats_every))
    pathlib.Path(config.out).mkdir(parents=True, exist_ok=True)
    limited = 0.0 if config.lr < 2e-3 else 1.0
    (pathlib.Path(config.out) / "fira_stats.jsonl").write_text(
      _stats_line(1, limited, 1.5, 0.6) + "\n" + _stats_line(3, 0.0, 1.0, 0.7) + "\n"
    )
    return {"val_ppl": 100.0 + 1e4 * config.lr}

  monkeypatch.setattr(fira_jax.train, "train", fake_train)
  argv = ["--sizes", "smoke", "--methods", "fira", "--diagnose-only", "--diagnose-every", "2",
          "--out", str(out), "--run-dir", str(tmp_path / "r"), "--tokenizer", "byte",
          "--diagnose-at", "1e-3", "3e-2", "--diagnose-at", "3e-3", "3e-2"]  # fmt: skip
  assert sweep.main(argv) == 0
  assert trained == [(1e-3, 3e-2, 2), (3e-3, 3e-2, 2)]
  head = lambda f: json.loads((out / f).read_text().splitlines()[0])["run"]  # noqa: E731
  assert (head(sweep.STATS)["lr"], head(sweep.STATS)["rest_lr"]) == (1e-3, 3e-2)
  assert head(sweep.STATS)["val_ppl"] == pytest.approx(110.0)
  assert head(sweep.stats_file(3e-3, 3e-3)) == json.loads(stale)["run"]  # kept, not retrained
  assert head(sweep.stats_file(3e-3, 3e-2))["val_ppl"] == pytest.approx(130.0)
  report = (out / "pretrain_sweep.md").read_text()
  section = report.split("### The same statistics at other rates", 1)[1]
  rows = [line for line in section.splitlines() if line.startswith("| 0.00")]
  # tuned first; limiter: cut at step 1 only at lr 3e-3 (50% of the pairs), always in the stale
  assert rows[0].startswith("| 0.001 | 0.03 | tuned | 110.00 | 3 / 3 / 3 | 0% / 0% / 0% | – |")
  assert "| 0.003 | 0.03 |  | 130.00 | 3 / 3 / 3 | 50% / 50% / 50% | 1.50 | 0.65 |" in section
  # the stale file has no val_ppl: the seed-0 run at its rates gives it
  assert "| 0.003 | 0.003 |  | 278.00 | 3 / 3 / 3 | 100% / 100% / 100% | 2.00 | 0.80 |" in section
  assert sweep.main(argv) == 0 and len(trained) == 2  # each file is written once


def test_diagnose_at_rejects_bad_rates(sweep, tmp_path, capsys):
  with pytest.raises(SystemExit):
    sweep.main(["--diagnose-only", "--out", str(tmp_path), "--diagnose-at", "1e-3", "-1"])
  assert "--diagnose-at" in capsys.readouterr().err
