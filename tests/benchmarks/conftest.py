"""Benchmark scripts are not a package: the tests load them from their files."""

import importlib.util
import pathlib

import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="session")
def load_script():
  """``load_script("distill/kpod_pretrained")``: ``benchmarks/distill/kpod_pretrained.py`` as a
  fresh module (its ``main`` not run), named after the file unless ``name`` is given."""

  def load(path: str, name: str | None = None):
    file = BENCHMARKS / f"{path}.py"
    spec = importlib.util.spec_from_file_location(name or file.stem, file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

  return load
