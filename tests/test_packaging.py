"""The built distribution (not the editable install) holds every package and works.

``python -m build`` (offline: ``--no-isolation``, with the ``setuptools`` and ``build`` of the
``test`` extra) makes the sdist and, from it, the wheel. The wheel must hold every module of
every package and nothing else; installed without its dependencies into a fresh virtual
environment that sees the current environment's site-packages (so nothing is downloaded), its
``fira-jax`` command must answer ``--help`` and train a few steps from a folder outside the
checkout.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ["fira_jax", "graphs", "distill", "hypernet", "avprobe"]


def _modules(package: str) -> set[str]:
  """Every ``.py`` file of ``package`` in the source tree, as a path relative to the root."""
  root = REPO_ROOT / package
  return {
    p.relative_to(REPO_ROOT).as_posix()
    for p in root.rglob("*.py")
    if "__pycache__" not in p.parts and (p.parent / "__init__.py").is_file()
  }


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> pathlib.Path:
  """sdist and wheel, built from a copy of the sources (the checkout gets no build/ folder)."""
  src = tmp_path_factory.mktemp("src")
  for package in PACKAGES:
    shutil.copytree(
      REPO_ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__")
    )
  for name in ["pyproject.toml", "README.md", "MANIFEST.in"]:
    shutil.copy(REPO_ROOT / name, src / name)
  out = tmp_path_factory.mktemp("dist")
  subprocess.run(
    [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(src)],
    check=True,
    capture_output=True,
    text=True,
  )
  return out


def test_wheel_holds_every_package_and_nothing_else(dist):
  (wheel,) = dist.glob("fira_jax-*.whl")
  names = set(zipfile.ZipFile(wheel).namelist())
  expected = set().union(*(_modules(p) for p in PACKAGES))
  assert expected <= names, sorted(expected - names)
  tops = {n.split("/")[0] for n in names}
  assert tops - set(PACKAGES) == {wheel.name.split("-py3")[0] + ".dist-info"}, tops
  assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
  entry_points = zipfile.ZipFile(wheel).read(
    f"{wheel.name.split('-py3')[0]}.dist-info/entry_points.txt"
  )
  assert b"fira-jax = fira_jax.lab.cli:main" in entry_points


def test_sdist_holds_the_packages_only(dist):
  (sdist,) = dist.glob("fira_jax-*.tar.gz")
  with tarfile.open(sdist) as tar:
    tops = {n.split("/")[1] for n in tar.getnames() if n.count("/") >= 1}
  allowed = {*PACKAGES, "fira_jax.egg-info", "PKG-INFO", "README.md", "pyproject.toml"}
  allowed |= {"setup.cfg", "MANIFEST.in", ""}
  assert set(PACKAGES) <= tops and tops <= allowed, sorted(tops - allowed)


def test_wheel_installs_and_runs_outside_the_checkout(dist, tmp_path):
  (wheel,) = dist.glob("fira_jax-*.whl")
  venv = tmp_path / "venv"
  subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
  python = venv / "bin" / "python"
  purelib = subprocess.run(
    [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
    check=True,
    capture_output=True,
    text=True,
  ).stdout.strip()
  # The dependencies come from this environment (a path entry: its .pth files, among them the
  # editable install's, are not run); fira-jax itself only from the wheel.
  pathlib.Path(purelib, "_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
  subprocess.run(
    [
      sys.executable,
      "-m",
      "pip",
      "--python",
      str(python),
      "install",
      "-q",
      "--no-index",
      "--no-deps",
      str(wheel),
    ],
    check=True,
  )
  env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "XLA_FLAGS")}
  work = tmp_path / "work"
  work.mkdir()

  def run(*args):
    return subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, check=True)

  where = run(python, "-c", "import fira_jax; print(fira_jax.__file__, fira_jax.__version__)")
  path, version = where.stdout.split()
  assert pathlib.Path(path).is_relative_to(venv), path
  assert version == wheel.name.split("-")[1]
  fira_jax = venv / "bin" / "fira-jax"
  assert "graphs" in run(fira_jax, "--help").stdout
  run(
    fira_jax,
    "train",
    "--model",
    "smoke",
    "--steps",
    "3",
    "--batch-size",
    "2",
    "--seq-len",
    "16",
    "--eval-every",
    "3",
    "--eval-batches",
    "1",
    "--data",
    "stdlib",
    "--vocab-size",
    "300",
    "--max-docs",
    "50",
    "--no-progress",
    "--out",
    "run",
  )
  summary = json.loads((work / "run" / "summary.json").read_text())
  assert summary, summary
