"""Flags from a config dataclass: types, help from the docstring, overrides of a base config."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Literal

import pytest

from fira_jax.lab import config_flags


@dataclasses.dataclass(frozen=True)
class Cfg:
  """A config.

  Attributes:
    num_train: generated training problems (100%% of them are used).
    lr, wd: learning rate and
      weight decay.
    mode: how to run.
    rank: low rank; None picks one.
    shuffle: reshuffle every epoch.
    extra: not a flag.

  Example:
    not an attribute: nothing.
  """

  num_train: int = 1000
  lr: float = 1e-3
  wd: float = 0.0
  mode: Literal["fast", "slow"] = "fast"
  rank: int | None = None
  shuffle: bool = True
  extra: dict = dataclasses.field(default_factory=dict)

  @classmethod
  def smoke(cls) -> Cfg:
    return cls(num_train=10, lr=0.1)


def _parser(**kw):
  p = argparse.ArgumentParser()
  added = config_flags.add_dataclass_flags(p, Cfg, **kw)
  return p, added


def test_help_comes_from_the_docstring():
  docs = config_flags.field_help(Cfg)
  assert docs["lr"] == docs["wd"] == "learning rate and weight decay."
  assert docs["rank"] == "low rank; None picks one."
  assert "not an attribute" not in docs
  p, added = _parser()
  assert added == ["num_train", "lr", "wd", "mode", "rank", "shuffle"]  # dict skipped
  text = p.format_help()
  assert "--num-train INT" in text and "generated training problems" in text
  assert "(default: 1000)" in text and "{fast,slow}" in text and "--no-shuffle" in text


def test_only_given_flags_override_the_base():
  p, _ = _parser()
  args = p.parse_args(["--lr", "0.5", "--rank", "4", "--no-shuffle"])
  cfg = config_flags.from_args(Cfg, args, base=Cfg.smoke())
  assert cfg == Cfg(num_train=10, lr=0.5, rank=4, shuffle=False)
  assert config_flags.from_args(Cfg, p.parse_args([]), mode="slow") == Cfg(mode="slow")
  assert config_flags.to_argv(Cfg, args) == "--lr 0.5 --rank 4 --no-shuffle"


def test_types_and_choices_are_checked_by_argparse(capsys):
  p, _ = _parser(choices={"num_train": [10, 100]}, exclude=("wd",))
  with pytest.raises(SystemExit):
    p.parse_args(["--mode", "medium"])
  assert "invalid choice: 'medium'" in capsys.readouterr().err
  with pytest.raises(SystemExit):
    p.parse_args(["--num-train", "1e3"])
  with pytest.raises(SystemExit):
    p.parse_args(["--wd", "0.1"])  # excluded


def test_field_without_default_is_required():
  @dataclasses.dataclass
  class Out:
    """Attributes:
    out: run folder.
    """

    out: str
    steps: int = 2

  p = argparse.ArgumentParser()
  config_flags.add_dataclass_flags(p, Out)
  with pytest.raises(SystemExit):
    p.parse_args([])
  assert config_flags.from_args(Out, p.parse_args(["--out", "x"])) == Out("x", 2)
  with pytest.raises(TypeError, match="dataclass"):
    config_flags.add_dataclass_flags(p, int)
