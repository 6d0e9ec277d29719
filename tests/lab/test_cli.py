"""The command tree: groups, lazy loading, deprecated names."""

import sys

import pytest

from fira_jax.lab import cli


def test_top_level_help_lists_groups_without_importing_them(capsys):
  for mod in ("graphs.freekd.cli", "distill.kpod.cli"):
    sys.modules.pop(mod, None)
  with pytest.raises(SystemExit):
    cli.main(["--help"])
  out = capsys.readouterr().out
  for name in ("train", "plot", "fira", "graphs", "distill"):
    assert name in out
  assert "kpod-compare" not in out  # deprecated names are hidden
  assert not any(m in sys.modules for m in ("graphs.freekd.cli", "distill.kpod.cli"))


def test_every_group_command_builds_its_parser():
  for group in cli.GROUPS:
    for name in cli._group_commands(group):
      parser = cli.build_parser([group, name])
      with pytest.raises(SystemExit):
        parser.parse_args([group, name, "--help"])


def test_group_help_lists_its_commands(capsys):
  with pytest.raises(SystemExit):
    cli.main(["graphs", "--help"])
  assert "freekd" in capsys.readouterr().out


def test_deprecated_name_runs_with_a_warning(capsys):
  with pytest.warns(DeprecationWarning, match="fira-jax fira compare"):
    assert cli.main(["compare", "--steps", "0"]) == 2
  err = capsys.readouterr().err
  assert "deprecated" in err and "--steps" in err


def test_unknown_command_is_an_argparse_error(capsys):
  with pytest.raises(SystemExit):
    cli.main(["nope"])
  assert "invalid choice" in capsys.readouterr().err
