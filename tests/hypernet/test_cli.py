"""``fira-jax hypernet pudnet`` in-process: the run record's fields, and clear errors."""

import json

import pytest

from fira_jax.lab import cli

TINY = [
  "--smoke", "--no-progress", "--k", "2", "--n-support", "2", "--n-query", "2",
  "--meta-batch", "1", "--meta-steps", "2", "--d", "8", "--h", "2", "--n-train", "4",
  "--n-test", "2", "--num-eval-tasks", "1", "--scratch-epochs", "5", "--finetune-epochs", "2",
  "--timing-repeats", "1", "--log-every", "1",
]  # fmt: skip


def test_pudnet_command_writes_the_documented_record(shared_data_dir, tmp_path, capsys):
  runs = tmp_path / "runs.jsonl"
  argv = ["hypernet", "pudnet", "--data-dir", str(shared_data_dir), "--json", str(runs)]
  assert cli.main([*argv, *TINY]) == 0
  assert "seed 0: pudnet" in capsys.readouterr().out
  (record,) = [json.loads(line) for line in runs.read_text().splitlines()]
  assert {"method", "seed", "settings", "metrics", "machine", "command"} <= set(record)
  assert record["method"] == "pudnet" and record["seed"] == 0
  m = record["metrics"]
  for name in ("pudnet_acc", "random_acc", "predict_seconds", "train_seconds"):
    assert isinstance(m[name], float), name
  assert set(m["scratch_acc"]) == {"1", "5"} and set(m["finetune_acc"]) == {"1", "2"}
  assert 0.0 <= m["pudnet_acc"] <= 1.0 and m["predict_seconds"] > 0
  s = record["settings"]
  assert (s["dataset"], s["setting"], s["k"], s["meta_steps"]) == ("mnist", "intra", 2, 2)
  assert record["command"].startswith("fira-jax")  # the process argv (here: pytest)


@pytest.mark.parametrize(
  "extra,message",
  [
    (["--seeds", "0"], "--seeds must be >= 1"),
    (["--n-train", "1"], "n_train (1) must be >= n_support"),
    (["--head", "predicted_fc"], "needs sketch_labels=class_means"),
  ],
)
def test_bad_flags_give_one_line_errors(shared_data_dir, capsys, extra, message):
  argv = ["hypernet", "pudnet", "--data-dir", str(shared_data_dir), *TINY, *extra]
  assert cli.main(argv) == 2
  assert message in capsys.readouterr().err


def test_missing_data_and_unknown_choices(tmp_path, capsys):
  assert cli.main(["hypernet", "pudnet", "--data-dir", str(tmp_path), *TINY]) == 2
  assert "mnist.npz" in capsys.readouterr().err
  with pytest.raises(SystemExit):
    cli.main(["hypernet", "pudnet", "--dataset", "svhn"])
  assert "invalid choice: 'svhn'" in capsys.readouterr().err
