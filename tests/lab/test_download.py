"""Checksummed downloads (through ``file://`` URLs) and the dataset search order."""

import hashlib

import pytest

from fira_jax.lab import download as dl


@pytest.fixture
def source(tmp_path):
  path = tmp_path / "mirror" / "data.txt"
  path.parent.mkdir()
  path.write_text("some dataset\n")
  return path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
  monkeypatch.setenv("FIRA_JAX_CACHE", str(tmp_path / "cache"))
  monkeypatch.delenv("FIRA_JAX_DATA_DIR", raising=False)
  monkeypatch.delenv("FIRA_JAX_OFFLINE", raising=False)


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
  assert dl.cache_dir("data", "x") == tmp_path / "cache" / "data" / "x"
  monkeypatch.delenv("FIRA_JAX_CACHE")
  assert dl.cache_dir().parts[-2:] == (".cache", "fira_jax")


def test_fetch_checks_the_checksum_and_tries_mirrors(tmp_path, source):
  path, sha = source
  dest = tmp_path / "out" / "data.txt"
  missing = (tmp_path / "nowhere.txt").as_uri()
  assert dl.fetch([missing, path.as_uri()], dest, sha) == dest
  assert dest.read_text() == "some dataset\n"
  path.write_text("changed")  # an existing good file is not fetched again
  assert dl.fetch(path.as_uri(), dest, sha).read_text() == "some dataset\n"
  dest.unlink()
  with pytest.raises(ValueError, match="checksum mismatch"):
    dl.fetch(path.as_uri(), dest, sha)
  assert not dest.exists() and not dest.with_name("data.txt.part").exists()
  with pytest.raises(dl.DatasetNotFound, match="download failed: .*nowhere.txt"):
    dl.fetch(missing, dest, sha)


def test_offline_switch_refuses_network_downloads(tmp_path, source, monkeypatch):
  monkeypatch.setenv("FIRA_JAX_OFFLINE", "1")
  with pytest.raises(FileNotFoundError, match="FIRA_JAX_OFFLINE"):
    dl.fetch("https://example.org/data.txt", tmp_path / "x", source[1])
  assert dl.fetch(source[0].as_uri(), tmp_path / "x", source[1]).is_file()  # a local mirror


def test_dataset_dir_search_order_and_download(tmp_path, source, monkeypatch):
  path, sha = source
  get = lambda folder: dl.fetch(path.as_uri(), folder / "data.txt", sha)  # noqa: E731
  with pytest.raises(dl.DatasetNotFound, match="toy not found in .*FIRA_JAX_DATA_DIR"):
    dl.dataset_dir("toy", ["data.txt"], fetch_into=get)
  cached = dl.dataset_dir("toy", ["data.txt"], download=True, fetch_into=get)
  assert cached == tmp_path / "cache" / "data" / "toy"
  local = tmp_path / "local" / "toy"
  local.mkdir(parents=True)
  (local / "data.txt").write_text("mine")
  monkeypatch.setenv("FIRA_JAX_DATA_DIR", str(local.parent))
  assert dl.dataset_dir("toy", ["data.txt"]) == local  # the local folder comes first
  given = tmp_path / "given"
  assert dl.dataset_dir("toy", ["data.txt"], given, download=True, fetch_into=get) == given
  monkeypatch.setenv("FIRA_JAX_OFFLINE", "1")
  get = lambda folder: dl.fetch("https://example.org/d.txt", folder / "data.txt", sha)  # noqa: E731
  with pytest.raises(dl.DatasetNotFound, match="download=True while online.*FIRA_JAX_OFFLINE"):
    dl.dataset_dir("toy", ["data.txt"], tmp_path / "other", download=True, fetch_into=get)
