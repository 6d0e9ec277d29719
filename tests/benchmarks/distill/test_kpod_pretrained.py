"""The pretrained-student comparison: the ``zeroshot`` phase (the student before distillation,
scored once on the seeds' test problems), the seeds phase's plan and report (ablations paired
with CoT and KPOD), and the ``teacher`` phase (a teacher's rationales per seed, then distilled
on)."""

import argparse
import dataclasses
import json

import pytest
from flax import nnx

from distill import kpod


def _saved_run(path):
  """A checkpoint laid out as `fira-jax train` writes it."""
  from fira_jax.lab.checkpoint import Checkpointer
  from fira_jax.models import Llama, LlamaConfig
  from fira_jax.train.step import FlatModel

  config = LlamaConfig(kpod.problem_tokenizer().vocab_size + 1, 32, 64, 2, 2, 160)
  flat = FlatModel(Llama(config, rngs=nnx.Rngs(5)))
  ckpt = Checkpointer(path)
  state = {"params": flat.params, "opt_state": {}, "frozen": flat.frozen}
  ckpt.save(3, state, {"step": 3, "identity": {"model": dataclasses.asdict(config)}})
  ckpt.close()


def test_zeroshot_rows_are_recorded_once_and_reported(tmp_path, capsys, load_script):
  script = load_script("distill/kpod_pretrained")
  _saved_run(tmp_path / "student")
  argv = ["--student", str(tmp_path / "student"), "--results", str(tmp_path), "--name", "z"]
  argv += ["--num-test", "3", "--seeds", "0", "1"]
  script.main(["--phase", "zeroshot", *argv])
  runs = [json.loads(x) for x in (tmp_path / "z_runs.jsonl").read_text().splitlines()]
  assert [(r["method"], r["seed"]) for r in runs] == [(script.ZEROSHOT, 0), (script.ZEROSHOT, 1)]
  for r in runs:
    m = r["metrics"]
    assert 0 <= m["accuracy"] <= 1 and 0 <= m["ood_accuracy"] <= 1 and m["accuracy"] * 3 % 1 == 0
    assert r["settings"]["num_test"] == 3 and r["settings"]["student"].endswith("student")
  # The same student scores the same problems the same way; a second call adds nothing.
  (tmp_path / "again").mkdir()
  other = [str(tmp_path / "again") if a == str(tmp_path) else a for a in argv]
  script.main(["--phase", "zeroshot", *other])
  again = [json.loads(x) for x in (tmp_path / "again" / "z_runs.jsonl").read_text().splitlines()]
  assert [r["metrics"] for r in again] == [r["metrics"] for r in runs]
  script.main(["--phase", "zeroshot", *argv])
  assert len((tmp_path / "z_runs.jsonl").read_text().splitlines()) == 2
  capsys.readouterr()
  script.main(["--phase", "report", *argv])
  assert f"| {script.ZEROSHOT} | 2 |" in capsys.readouterr().out


def test_seed_plan_runs_the_given_methods_and_names_the_ablations(load_script):
  script = load_script("distill/kpod_pretrained")
  flags = dict(cot=(3e-4, 6), kpod=(1e-3, 6), weighting_only=None, progressive=(1e-3, 4))
  cfg = kpod.KPODConfig()
  plan = script.seed_plan(argparse.Namespace(**flags), cfg)
  assert plan == [
    ("cot", (3e-4, 6), "cot"),
    ("kpod", (1e-3, 6), "kpod"),
    ("progressive", (1e-3, 4), "progressive only"),
  ]
  # The hidden-answer module: only the methods that read the token weights, under own names.
  hidden = dataclasses.replace(cfg, weighting_hide_answer=True)
  flags["weighting_only"] = (1e-3, 6)
  plan = script.seed_plan(argparse.Namespace(**flags), hidden)
  assert [label for *_, label in plan] == [script.HIDDEN, "weighting only, answer hidden"]
  assert all(label in script.DISTILLED for *_, label in plan)
  with pytest.raises(ValueError, match="--weighting-only"):
    script.seed_plan(argparse.Namespace(**dict.fromkeys(flags)), cfg)


def test_report_pairs_every_distilled_method_with_cot_and_kpod(tmp_path, capsys, load_script):
  from fira_jax.lab.results import append_run, make_record

  script = load_script("distill/kpod_pretrained")
  acc = {"cot": [0.9, 0.8, 0.7], "kpod": [0.4, 0.5, 0.3], "progressive only": [0.5, 0.7, 0.4]}
  for method, values in acc.items():
    for seed, a in enumerate(values):
      metrics = {"accuracy": a, "ood_accuracy": 0.0, "weight_stats": {}}
      append_run(tmp_path / "r_runs.jsonl", make_record(method, seed, {}, metrics, command="x"))
  script.main(["--phase", "report", "--student", "x", "--results", str(tmp_path), "--name", "r"])
  out = capsys.readouterr().out
  # progressive − cot: -0.4, -0.1, -0.3 (mean -26.7 points); progressive − kpod: +10, +20, +10.
  assert "| progressive only − cot, paired (95% interval) | 3 | -26.7 [" in out
  assert "| progressive only − kpod, paired (95% interval) | 3 | +13.3 [" in out
  assert "| kpod − cot, paired (95% interval) | 3 | -40.0 [" in out
  assert "weighting only −" not in out


def test_teacher_phase_writes_each_seeds_rationales_once(tmp_path, capsys, load_script):
  """The teacher phase records its training and one rationales file per seed (atomic, skipped
  when present); the seeds phase then distils on a seed's file under a ", teacher" label."""
  script = load_script("distill/kpod_pretrained")
  _saved_run(tmp_path / "student")
  argv = ["--student", str(tmp_path / "student"), "--results", str(tmp_path), "--name", "t"]
  argv += ["--work", str(tmp_path / "work"), "--num-train", "8", "--num-test", "2", "--quiet"]
  argv += ["--weighting-steps", "4", "--weighting-warmup", "2", "--weighting-select", "last"]
  argv += ["--weighting-val", "0", "--external", "1", "--num-val", "4"]
  argv += ["--teacher", "0.001", "1", "--teacher-train", "40", "--teacher-keep", "all"]
  script.main(["--phase", "teacher", "--seeds", "0", "1", *argv])
  runs = [json.loads(x) for x in (tmp_path / "t_teacher_runs.jsonl").read_text().splitlines()]
  assert [(r["method"], r["seed"]) for r in runs] == [
    ("teacher training", script.TEACHER_SEED),
    ("teacher rationales", 0),
    ("teacher rationales", 1),
  ]
  cfg = script.base_config(argparse.Namespace(
    num_train=8, num_test=2, weighting_steps=4, weighting_warmup=2, weighting_select="last",
    weighting_hide_answer=False, weighting_val=0,
  ))  # fmt: skip
  for r in runs[1:]:
    kept = script.load_rationales(tmp_path / "work", r["seed"])
    assert r["metrics"]["kept"] == len(kept) / 8
    train, *_ = kpod.problem_sets(cfg, r["seed"])
    assert {p.question for p in kept} <= {p.question for p in train}
  script.main(["--phase", "teacher", "--seeds", "0", "1", *argv])  # nothing left to do
  assert len((tmp_path / "t_teacher_runs.jsonl").read_text().splitlines()) == 3
  # A teacher's file for seed 0 (two of its training problems, one step each), then CoT on it.
  train, *_ = kpod.problem_sets(cfg, 0)
  rows = [[p.question, list(p.steps[-1:]), p.answer] for p in train[:2]]
  script.rationales_path(tmp_path / "work", 0).write_text(json.dumps(rows))
  assert script.load_rationales(tmp_path / "work", 0) == [
    kpod.MathProblem(q, tuple(s), a) for q, s, a in rows
  ]
  script.main(["--phase", "seeds", "--seeds", "0", "--from-teacher", "--cot", "0.001", "1", *argv])
  taught = [json.loads(x) for x in (tmp_path / "t_runs.jsonl").read_text().splitlines()]
  assert [(r["method"], r["seed"]) for r in taught] == [("cot, teacher", 0)]
  with pytest.raises(FileNotFoundError, match="run --phase teacher for seed 3"):
    script.main(
      ["--phase", "seeds", "--seeds", "3", "--from-teacher", "--cot", "0.001", "1", *argv]
    )
  capsys.readouterr()
