"""End to end through the CLI: a smoke run, exact resume, learning, LoRA, and user errors."""

import json
import shutil

import numpy as np

from fira_jax.train import TrainConfig, read_metrics, train

SMALL = [
  "--model", "smoke", "--batch-size", "8", "--seq-len", "32", "--tokenizer", "byte",
  "--no-progress", "--log-every", "1",
]  # fmt: skip


def _args(data, out, *extra):
  return ["train", "--data", data, "--out", str(out), *SMALL, *extra]


def test_cli_smoke_run_writes_metrics_summary_and_checkpoint(cli, shakespeare, tmp_path, capsys):
  out = tmp_path / "run"
  rc = cli(_args(shakespeare, out, "--optimizer", "adamw", "--steps", "6", "--eval-every", "3"))
  assert rc == 0
  records = read_metrics(out)
  assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]
  assert {"loss", "lr", "grad_norm", "tokens_per_s"} <= set(records[0])
  assert "val_ppl" in records[2] and "val_ppl" in records[5]
  np.testing.assert_allclose(records[5]["val_ppl"], np.exp(records[5]["val_loss"]), rtol=1e-6)
  summary = json.loads((out / "summary.json").read_text())
  assert summary["steps_done"] == 6 and summary["optimizer"] == "adamw"
  assert summary["optimizer_state_bytes"] == 2 * 4 * summary["params"] + 8  # mu, nu, 2 counts
  assert (out / "checkpoints" / "6").is_dir() and (out / "byte_tokenizer.json").is_file()
  assert "validation perplexity" in capsys.readouterr().out


def test_resume_equals_uninterrupted(cli, shakespeare, tmp_path):
  common = ["--optimizer", "fira", "--rank", "8", "--update-proj-gap", "3", "--steps", "10"]
  common += ["--checkpoint-every", "2", "--eval-every", "4"]
  assert cli(_args(shakespeare, tmp_path / "full", *common)) == 0
  assert cli(_args(shakespeare, tmp_path / "cut", *common, "--stop-at-step", "5")) == 0
  assert [r["step"] for r in read_metrics(tmp_path / "cut")][-1] == 5
  # A kill after step 5 loses that step's checkpoint: the resume starts from step 4 and the
  # metrics the killed run wrote after it are dropped.
  shutil.rmtree(tmp_path / "cut" / "checkpoints" / "5")
  assert cli(_args(shakespeare, tmp_path / "cut", *common, "--resume")) == 0
  full, cut = read_metrics(tmp_path / "full"), read_metrics(tmp_path / "cut")
  assert [r["step"] for r in cut] == list(range(1, 11))
  # Identical on CPU: params, optimizer state (Fira projectors and limiter reference) and the
  # data position are restored.
  for key in ("loss", "grad_norm", "residual_norm", "val_loss"):
    assert [r.get(key) for r in cut] == [r.get(key) for r in full], key
  assert cut[-1]["val_loss"] is not None and "residual_norm" in cut[-1]

  # Resuming with another config, or re-using the folder without --resume, is refused.
  capsys_rc = cli(_args(shakespeare, tmp_path / "cut", *common, "--resume", "--rank", "4"))
  assert capsys_rc == 2
  assert cli(_args(shakespeare, tmp_path / "cut", *common)) == 2


def test_mismatch_and_existing_run_messages(cli, shakespeare, tmp_path, capsys):
  args = _args(shakespeare, tmp_path / "r", "--optimizer", "adamw", "--steps", "2")
  assert cli(args) == 0
  assert cli([*args, "--resume", "--seq-len", "16"]) == 2
  err = capsys.readouterr().err
  assert "error: checkpoint in" in err and "is from another config" in err
  assert cli(args) == 2
  assert "already holds checkpoints; pass --resume" in capsys.readouterr().err


def test_loss_falls_over_fifty_steps(shakespeare, tmp_path):
  summary = train(
    TrainConfig(
      out=str(tmp_path / "learn"), model="smoke", optimizer="galore", rank=8,
      update_proj_gap=20, steps=50, batch_size=8, seq_len=32, tokenizer="byte",
      data=shakespeare, eval_every=50, log_every=5, progress=False,
    )
  )  # fmt: skip
  losses = [r["loss"] for r in read_metrics(tmp_path / "learn") if "loss" in r]
  assert losses[0] > 5.0  # ≈ log(257) at initialisation
  assert np.mean(losses[-3:]) < losses[0] - 1.5
  assert summary["val_loss"] < 3.6


def test_lora_trains_only_adapters_and_keeps_frozen_weights(shakespeare, tmp_path):
  summary = train(
    TrainConfig(
      out=str(tmp_path / "lora"), model="smoke", optimizer="lora", rank=4, steps=4,
      batch_size=8, seq_len=32, tokenizer="byte", data=shakespeare, eval_every=4,
      log_every=1, progress=False,
    )
  )  # fmt: skip
  d, f, layers = 32, 64, 2
  frozen = layers * (4 * d * d + 3 * d * f)
  assert summary["frozen_params"] == frozen
  adapters = layers * 4 * (d * 4 + 4 * d) + layers * (2 * (d * 4 + 4 * f) + (f * 4 + 4 * d))
  other = 2 * 257 * d + (2 * layers + 1) * d
  assert summary["params"] == adapters + other
  assert summary["optimizer_state_bytes"] == 2 * 4 * (adapters + other) + 8


def test_fira_stats_every_writes_the_residual_statistics(shakespeare, tmp_path):
  out = tmp_path / "stats"
  summary = train(
    TrainConfig(
      out=str(out), model="smoke", optimizer="fira", rank=4, steps=4, batch_size=8, seq_len=32,
      tokenizer="byte", data=shakespeare, eval_every=4, log_every=2, progress=False,
      fira_stats_every=2, fira_options={"gamma": 1.01},
    )
  )  # fmt: skip
  records = read_metrics(out / "fira_stats.jsonl")
  assert [r["step"] for r in records] == [1, 2, 4]
  leaves = records[-1]["leaves"]
  assert len(leaves) == 2 * 7  # 2 layers x (q, k, v, o, gate, up, down)
  leaf = next(iter(leaves.values()))
  assert leaf["phi_0"] <= leaf["phi_50"] <= leaf["phi_100"] and 0 < leaf["residual_share"] <= 1
  assert np.isfinite(summary["val_ppl"])


def test_traced_rates_train_as_compiled_rates(shakespeare, tmp_path):
  """Rates held in the optimizer state give the losses of rates compiled into the step."""
  losses = []
  for traced in (False, True):
    out = tmp_path / f"traced_{traced}"
    train(
      TrainConfig(
        out=str(out), model="smoke", optimizer="fira", rank=4, steps=3, batch_size=8,
        seq_len=32, tokenizer="byte", data=shakespeare, eval_every=3, log_every=1,
        progress=False, lr=0.02, rest_lr=0.003, traced_rates=traced,
      )
    )  # fmt: skip
    losses.append([r["loss"] for r in read_metrics(out)])
  np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
