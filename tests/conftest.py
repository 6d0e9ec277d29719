"""Test configuration shared by every test module.

Eight simulated CPU devices are requested before JAX is imported, so the sharding tests can
build a ``jax.make_mesh`` mesh; single-device computations still run on device 0.

Reference trajectories and small samples are committed under ``tests/fixtures/``
(``fixtures_dir``). Real datasets are not: a test that needs one asks ``dataset_dir(name)``,
which looks in ``$FIRA_JAX_DATA_DIR/<name>``, ``../shared/data/<name>`` (next to the
repository) and the download cache (``$FIRA_JAX_CACHE`` or ``~/.cache/fira_jax``, folder
``data/<name>``), in that order. When none has it, it is downloaded into the cache (unless
``FIRA_JAX_OFFLINE=1``); when that fails too the test is skipped, with a reason saying how to
get the data. With ``FIRA_JAX_REQUIRE_DATA=1`` (what CI sets) a missing dataset fails the test
instead, and any skipped test fails the run.
"""

import os
import pathlib

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")

import pytest  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT / "tests" / "fixtures"
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
REQUIRE_DATA = os.environ.get("FIRA_JAX_REQUIRE_DATA", "") not in ("", "0")
_PLANETOID = [f"ind.{n}.{s}" for n in ("cora", "citeseer") for s in ("x", "y", "tx", "ty")]
_PLANETOID += [f"ind.{n}.{s}" for n in ("cora", "citeseer") for s in ("allx", "ally", "graph")]
_PLANETOID += [f"ind.{n}.test.index" for n in ("cora", "citeseer")]
# dataset folder -> files it must hold
DATASETS = {
  "planetoid": _PLANETOID,
  "gsm8k": ["train.jsonl", "test.jsonl"],
  "svamp": ["SVAMP.json"],
  "tinyshakespeare": ["input.txt"],
  "mnist": ["mnist.npz"],
  "cifar10": ["cifar10_jpeg.npz"],
  "uci_msg": ["CollegeMsg.txt"],
}


def _download(name: str, folder: pathlib.Path) -> None:
  """Fetches dataset ``name`` into ``folder`` with the loaders' own download functions."""
  if name == "planetoid":
    import graphs

    for dataset in ("cora", "citeseer"):
      graphs.download_planetoid(dataset, folder)
  elif name in ("gsm8k", "svamp"):
    import distill.kpod as kpod

    getattr(kpod, f"download_{name}")(folder)
  elif name == "uci_msg":
    from graphs.adadygnn import download_college_msg

    download_college_msg(folder)
  elif name == "tinyshakespeare":
    from fira_jax.data import tinyshakespeare_path

    tinyshakespeare_path(folder, download=True)
  else:
    from hypernet import _download

    getattr(_download, f"download_{name}")(folder)


def _roots() -> list[pathlib.Path]:
  from fira_jax.lab.download import cache_dir

  env = os.environ.get("FIRA_JAX_DATA_DIR")
  return [*([pathlib.Path(env)] if env else []), SHARED_DATA, cache_dir("data")]


def _missing(reason: str):
  if REQUIRE_DATA:
    pytest.fail(f"{reason} [FIRA_JAX_REQUIRE_DATA=1]", pytrace=False)
  pytest.skip(reason)


class _Datasets:
  """Finds (or downloads once per session) the datasets the tests ask for."""

  def __init__(self):
    self.failed: dict[str, str] = {}

  def __call__(self, name: str) -> pathlib.Path:
    files = DATASETS[name]
    roots = _roots()
    for root in roots:
      if all((root / name / f).is_file() for f in files):
        return root / name
    if name not in self.failed:
      try:
        _download(name, roots[-1] / name)
        return roots[-1] / name
      except (OSError, ValueError) as e:  # offline (DatasetNotFound) or a bad download
        self.failed[name] = str(e.__cause__ or e).splitlines()[0][:300]
    _missing(
      f"dataset {name!r} not found in {', '.join(str(r) for r in roots)} and not downloadable "
      f"({self.failed[name]}); set FIRA_JAX_DATA_DIR to a folder holding {name}/ or run the "
      "tests once online (docs/data.md lists the sources)"
    )


@pytest.fixture(scope="session")
def dataset_dir() -> _Datasets:
  """``dataset_dir("gsm8k")``: the folder of a real dataset; skips the test when unavailable."""
  return _Datasets()


@pytest.fixture(scope="session")
def shared_data_dir() -> pathlib.Path:
  """A folder holding every dataset (``$FIRA_JAX_DATA_DIR`` or ``../shared/data``); skips the
  test when there is none. Prefer ``dataset_dir(name)``, which also finds downloads."""
  for root in _roots()[:-1]:
    if root.is_dir():
      return root
  _missing(
    f"no data folder at {SHARED_DATA} and FIRA_JAX_DATA_DIR is not set; point "
    "FIRA_JAX_DATA_DIR at a folder holding the datasets (docs/data.md)"
  )


@pytest.fixture(scope="session")
def fixtures_dir() -> pathlib.Path:
  """The committed reference trajectories and samples (``tests/fixtures``)."""
  return FIXTURES


@pytest.fixture(scope="session")
def shakespeare_sample() -> pathlib.Path:
  """The first 200,000 characters of Tiny Shakespeare (committed)."""
  return FIXTURES / "samples" / "tinyshakespeare" / "input.txt"


_SKIPPED: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def _release_compiled_programs():
  """Drops every compiled program after each test module.

  A long-lived xdist worker otherwise keeps every executable it ever compiled (eager op-by-op
  dispatch compiles one per primitive and shape), each holding a few memory maps; after several
  hundred tests the process nears the kernel's ``vm.max_map_count``, the likely cause of a
  segfault in XLA's CPU compiler that once crashed a worker while it loaded a new program.
  """
  yield
  import gc

  import jax

  jax.clear_caches()
  gc.collect()


def pytest_configure(config):
  chars = getattr(config.option, "reportchars", None) or ""
  if "s" not in chars and "a" not in chars:
    config.option.reportchars = chars + "s"  # list every skip with its reason


def pytest_runtest_logreport(report):
  if report.skipped:
    _SKIPPED.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
  """Under ``FIRA_JAX_REQUIRE_DATA=1`` (CI) any skipped test fails the run."""
  if REQUIRE_DATA and _SKIPPED and not hasattr(session.config, "workerinput"):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
      reporter.write_line(
        f"FIRA_JAX_REQUIRE_DATA=1: {len(_SKIPPED)} skipped test(s) fail the run", red=True
      )
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
