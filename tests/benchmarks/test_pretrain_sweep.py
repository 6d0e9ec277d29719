"""benchmarks/fira/pretrain_sweep.py: the coordinate search, grid extension and the report."""

import argparse
import importlib.util
import json
import pathlib

import numpy as np
import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "fira" / "pretrain_sweep.py"


@pytest.fixture(scope="module")
def sweep():
  spec = importlib.util.spec_from_file_location("pretrain_sweep", SCRIPT)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


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


@pytest.mark.parametrize("name", ["adamw", "lora", "galore", "fira", "fira_no_limiter",
                                  "apollo", "apollo_mini"])  # fmt: skip
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
