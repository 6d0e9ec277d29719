import json

import pytest

from fira_jax.lab import cli


def test_adadygnn_cli_writes_json(tiny_data, tmp_path, capsys, write_official):
  write_official(tmp_path, tiny_data, "tiny")
  out = tmp_path / "r.json"
  argv = ["graphs", "adadygnn", "--dataset", "tiny", "--data-dir", str(tmp_path),
          "--policy", "learned", "--noise", "insert", "--rho", "0.2", "--epochs", "2",
          "--seeds", "2", "--batch-size", "8", "--num-neighbors", "3", "--memory-dim", "8",
          "--message-dim", "4", "--json", str(out), "--no-progress"]  # fmt: skip
  assert cli.main(argv) == 0
  res = json.loads(out.read_text())
  assert set(res) >= {"split_sizes", "settings", "machine", "runs", "policy", "noise", "rho"}
  clean = res["clean_split_sizes"]
  assert res["split_sizes"]["train"] == clean["train"] + round(0.2 * clean["train"])
  assert set(clean) == {"train", "val", "test", "new_node_val", "new_node_test"}
  assert res["settings"]["policy"] == "learned" and res["settings"]["batch_size"] == 8
  assert [r["seed"] for r in res["runs"]] == [0, 1]
  for run in res["runs"]:
    for setting in ("transductive", "inductive"):
      assert set(run[setting]) >= {
        "auc", "ap", "mrr", "recall@20", "recall@50", "mrr_exclude_self",
        "recall@20_exclude_self", "recall@50_exclude_self", "auc_global", "ap_global",
      }  # fmt: skip
    assert len(run["epochs"]) == 2
    assert {"reward_u", "pi_u", "update_u", "entropy_u", "link_loss", "noise_update_rate"} <= set(
      run["epochs"][0]
    )
    assert run["epochs"][0]["noise_slots"] > 0
  assert "seed 1: transductive AP" in capsys.readouterr().out


@pytest.mark.parametrize(
  ("extra", "message"),
  [(["--rho", "1.5", "--noise", "delete"], "rho for 'delete' must lie in [0, 1]"),
   (["--epochs", "0"], "--seeds and --epochs must be >= 1"),
   (["--dataset", "wiki"], "--data-dir is required"),
   (["--dataset", "wiki", "--data-dir", "/nonexistent"], "ml_wiki.csv not found"),
   (["--data-dir", "/nonexistent"], "CollegeMsg not found"),
   (["--reward", "per_node"], "invalid choice")],
)  # fmt: skip
def test_adadygnn_cli_bad_inputs(extra, message, capsys):
  try:
    rc = cli.main(["graphs", "adadygnn", *extra])
  except SystemExit as e:  # argparse rejects a bad choice itself
    rc = e.code
  assert rc != 0
  assert message in capsys.readouterr().err
