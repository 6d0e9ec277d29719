"""`fira-jax train`: flags generated from TrainConfig, their help, and one-line errors."""

import argparse
import dataclasses

import pytest

from fira_jax.lab.config_flags import field_help, from_args
from fira_jax.train import TrainConfig, cli_train
from fira_jax.train import cli as train_cli


def _parser():
  parser = argparse.ArgumentParser(prog="fira-jax train")
  train_cli.add_arguments(parser)
  return parser


def _config(*argv):
  args = _parser().parse_args(["--out", "runs/x", *argv])
  return from_args(TrainConfig, args, fira_options=dict(args.fira_option))


def test_every_field_is_documented_and_has_a_flag():
  docs = field_help(TrainConfig)
  names = [f.name for f in dataclasses.fields(TrainConfig)]
  assert set(names) <= set(docs), set(names) - set(docs)
  help_text = " ".join(_parser().format_help().split())
  for name in names:
    if name != "fira_options":  # set by --fira-option
      assert "--" + name.replace("_", "-") in help_text
  assert "--no-progress" in help_text and "--fira-option KEY=VALUE" in help_text


def test_help_shows_the_docstring_and_the_defaults():
  help_text = " ".join(_parser().format_help().split())
  assert "global batch size (divisible by the device count) (default: 16)" in help_text
  assert "linear warm-up steps (default: 10% of steps)" in help_text
  assert "steps between projector refreshes T (GaLore/Fira) (default: 200)" in help_text
  assert "{svd,eigh,rsvd}" in help_text
  assert "{adamw,galore,fira,lora,apollo,apollo_mini}" in help_text


def test_flags_not_given_keep_the_defaults():
  assert _config() == TrainConfig(out="runs/x")


def test_flags_map_onto_the_config():
  config = _config(
    "--rank", "4", "--lr", "0.02", "--warmup-steps", "3", "--max-docs", "7",
    "--stop-at-step", "5", "--alpha", "0.5", "--model", "smoke", "--no-progress", "--resume",
    "--fira-option", "gamma=null", "--fira-option", "norm_scaling=none",
  )  # fmt: skip
  assert (config.rank, config.lr, config.warmup_steps, config.max_docs) == (4, 0.02, 3, 7)
  assert (config.stop_at_step, config.alpha, config.model) == (5, 0.5, "smoke")
  assert config.progress is False and config.resume is True
  assert config.fira_options == {"gamma": None, "norm_scaling": "none"}


def test_out_is_required_and_choices_are_checked(capsys):
  with pytest.raises(SystemExit):
    _parser().parse_args([])
  assert "--out" in capsys.readouterr().err
  with pytest.raises(SystemExit):
    _parser().parse_args(["--out", "x", "--fira-option", "gamma"])
  assert "expected KEY=VALUE" in capsys.readouterr().err


def test_old_module_reexports_the_command():
  assert cli_train.add_arguments is train_cli.add_arguments
  assert cli_train.run is train_cli.run


def test_train_is_also_in_the_fira_group():
  from fira_jax.lab.cli import build_parser

  args = build_parser(["fira", "train"]).parse_args(["fira", "train", "--out", "x"])
  assert args._run is train_cli.run and args.out == "x"


@pytest.mark.parametrize(
  "extra, match",
  [
    (["--data", "text:/nonexistent/corpus.txt"], "no such file or folder: /nonexistent"),
    (["--data", "tfds:c4/en:3.1.0"], "tfds"),
    (["--data", "wikipedia"], "--data must be 'stdlib'"),
    (["--batch-size", "6"], "--batch-size 6 must be divisible by the 8 devices"),
    (["--steps", "0"], "--steps must be a positive int"),
  ],
)
def test_bad_arguments_give_one_line_errors(cli, shakespeare, tmp_path, capsys, extra, match):
  args = [
    "train", "--data", shakespeare, "--out", str(tmp_path / "bad"), "--model", "smoke",
    "--batch-size", "8", "--seq-len", "32", "--tokenizer", "byte", "--no-progress",
    "--optimizer", "adamw", "--steps", "2", *extra,
  ]  # fmt: skip
  assert cli(args) == 2
  err = capsys.readouterr().err.strip()
  assert err.startswith("fira-jax train: error:") and match in err
  assert len(err.splitlines()) == 1


def test_unknown_optimizer_is_rejected_by_argparse(cli, tmp_path, capsys):
  with pytest.raises(SystemExit):
    cli(["train", "--out", str(tmp_path), "--optimizer", "sgd"])
  assert "invalid choice: 'sgd'" in capsys.readouterr().err
