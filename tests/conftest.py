"""Test configuration shared by every test module.

Eight simulated CPU devices are requested before JAX is imported, so the sharding tests can
build a ``jax.make_mesh`` mesh; single-device computations still run on device 0.

Shared datasets are found through ``FIRA_JAX_DATA_DIR`` or, by default, at ``../shared/data``
next to the repository root.
"""

import os
import pathlib

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")

import pytest  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_data_dir() -> pathlib.Path:
  """Directory holding the shared real datasets (``../shared/data``)."""
  path = pathlib.Path(os.environ.get("FIRA_JAX_DATA_DIR", SHARED / "data"))
  if not path.is_dir():
    pytest.fail(f"shared data directory not found at {path}; set FIRA_JAX_DATA_DIR")
  return path


@pytest.fixture(scope="session")
def fixtures_dir() -> pathlib.Path:
  """Directory holding the official implementations' recorded trajectories."""
  path = SHARED / "fixtures"
  if not path.is_dir():
    pytest.fail(f"reference fixtures not found at {path}")
  return path
