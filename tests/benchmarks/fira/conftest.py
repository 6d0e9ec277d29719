"""The fira benchmarks import their helper modules (``_llama_shapes``) from their own folder, as
a script run from anywhere would."""

import pathlib
import sys

import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parents[3] / "benchmarks" / "fira"
RESULTS = BENCHMARKS.parent / "results" / "fira"


if str(BENCHMARKS) not in sys.path:  # before the test modules import the helpers
  sys.path.insert(0, str(BENCHMARKS))


@pytest.fixture
def load_benchmark(load_script):
  """``load_benchmark("memory_table")``: the script ``benchmarks/fira/memory_table.py`` as a
  module (its ``main`` not run)."""
  return lambda name: load_script(f"fira/{name}", name=f"bench_{name}")


@pytest.fixture
def results_dir() -> pathlib.Path:
  """``benchmarks/results/fira``: the committed reports and runs files."""
  return RESULTS
