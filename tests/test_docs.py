"""The API reference builds with warnings as errors, and the examples in the docstrings run.

The reference (``docs/``, Sphinx) is built like ``sphinx-build -W docs docs/_build/html``, one
process (``-j 1``) and no notebook execution (myst-nb renders their stored outputs). Every
module of the packages whose docstrings hold ``>>>`` examples is run through :mod:`doctest`.
"""

import doctest
import importlib
import os
import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("myst_nb")

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ["fira_jax", "graphs", "distill", "hypernet", "avprobe"]


def _modules_with_examples() -> list[str]:
  names = []
  for package in PACKAGES:
    for path in sorted((REPO_ROOT / package).rglob("*.py")):
      if ">>> " in path.read_text(encoding="utf-8"):
        parts = path.relative_to(REPO_ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
  return names


def test_docs_build_without_warnings(tmp_path):
  env = {**os.environ, "XLA_FLAGS": ""}
  result = subprocess.run(
    [
      sys.executable,
      "-m",
      "sphinx",
      "-W",
      "--keep-going",
      "-q",
      "-j",
      "1",
      "-b",
      "html",
      str(REPO_ROOT / "docs"),
      str(tmp_path / "html"),
    ],
    capture_output=True,
    text=True,
    env=env,
    timeout=600,
  )
  assert result.returncode == 0, result.stderr[-5000:]
  html = tmp_path / "html"
  for page in [
    "index",
    "_gen/api/fira_jax",
    "_gen/commands/index",
    "_gen/commands/train",
    "_gen/notebooks/index",
    "_gen/results/index",
  ]:
    assert (html / f"{page}.html").is_file(), page


@pytest.mark.parametrize("name", _modules_with_examples())
def test_docstring_examples(name):
  result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
  assert result.attempted > 0 and result.failed == 0, result
