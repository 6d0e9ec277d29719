"""The pretrained-student comparison's ``zeroshot`` phase: the student before distillation is
scored on the seeds' test problems, once (resumable), and reported as its own row."""

import dataclasses
import importlib.util
import json
import pathlib

from flax import nnx

from distill import kpod

ROOT = pathlib.Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "benchmarks" / "distill" / "kpod_pretrained.py"


def _script():
  spec = importlib.util.spec_from_file_location("kpod_pretrained", SCRIPT)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


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


def test_zeroshot_rows_are_recorded_once_and_reported(tmp_path, capsys):
  script = _script()
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
