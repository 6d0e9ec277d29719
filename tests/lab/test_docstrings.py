"""The runnable examples in the harness's docstrings stay true."""

import doctest
import importlib

import pytest

MODULES = ["fira_jax.lab.seeds", "fira_jax.lab.stats", "fira_jax.lab.nnx_train"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
  module = importlib.import_module(name)
  result = doctest.testmod(module, extraglobs={"jax": importlib.import_module("jax")})
  assert result.failed == 0 and result.attempted > 0
