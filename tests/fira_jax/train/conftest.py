"""Fixtures of the training tests: the CLI, a text corpus, a compilation cache."""

import pytest

import fira_jax.lab.cli


@pytest.fixture
def cli():
  """``fira-jax`` in-process (only the chosen command's module is imported)."""
  return fira_jax.lab.cli.main


@pytest.fixture
def shakespeare(shakespeare_sample):
  """A 200 KB text corpus (the committed head of Tiny Shakespeare) as a ``--data`` spec."""
  return f"text:{shakespeare_sample}"


@pytest.fixture(scope="session", autouse=True)
def _compilation_cache(tmp_path_factory):
  """Persistent XLA cache: the many identical smoke-model programs compile once per session."""
  import jax

  jax.config.update("jax_compilation_cache_dir", str(tmp_path_factory.mktemp("xla_cache")))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
