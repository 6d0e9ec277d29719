"""The runnable examples in the public docstrings stay true."""

import doctest
import importlib

import pytest

MODULES = [
  "fira_jax._src.alias",
  "fira_jax._src.projectors",
  "fira_jax._src.projection",
  "fira_jax._src.residual",
  "fira_jax._src.adam",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
  result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
  assert result.failed == 0
