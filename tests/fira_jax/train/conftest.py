"""Fixtures of the training tests: the CLI restricted to this package's subcommands."""

import pytest

import fira_jax.cli


@pytest.fixture
def cli(monkeypatch):
  """``fira_jax.cli.main`` with only ``train``/``plot`` registered (others may not exist yet)."""
  subs = {k: v for k, v in fira_jax.cli.SUBCOMMANDS.items() if k in ("train", "plot")}
  monkeypatch.setattr(fira_jax.cli, "SUBCOMMANDS", subs)
  return fira_jax.cli.main


@pytest.fixture
def shakespeare(shared_data_dir):
  return f"text:{shared_data_dir / 'tinyshakespeare' / 'input.txt'}"


@pytest.fixture(scope="session", autouse=True)
def _compilation_cache(tmp_path_factory):
  """Persistent XLA cache: the many identical smoke-model programs compile once per session."""
  import jax

  jax.config.update("jax_compilation_cache_dir", str(tmp_path_factory.mktemp("xla_cache")))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
