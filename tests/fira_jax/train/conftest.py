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


@pytest.fixture(scope="package", autouse=True)
def _compilation_cache(tmp_path_factory):
  """Persistent XLA cache: the many identical smoke-model programs of these tests compile
  once. Only for this package: the setting is restored afterwards, so the other packages'
  programs (run later in the same worker) are not written to it."""
  import jax

  names = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
           "jax_persistent_cache_min_entry_size_bytes")  # fmt: skip
  saved = {n: getattr(jax.config, n) for n in names}
  jax.config.update("jax_compilation_cache_dir", str(tmp_path_factory.mktemp("xla_cache")))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
  yield
  for n, v in saved.items():
    jax.config.update(n, v)
  # The cache is initialised once per process; without a reset it stays in use. (XLA aborts
  # serialising some CPU executables, e.g. the PudNet meta-step's, so nothing else may use it.)
  from jax._src import compilation_cache

  compilation_cache.reset_cache()
