"""Datasets on disk: where they are looked for, and checksummed downloads into a cache.

A dataset lives in a folder named after it (``gsm8k/``, ``planetoid/``, ``mnist/``, …). A
loader given no folder looks for it, in order, under

1. ``$FIRA_JAX_DATA_DIR/<name>`` (a folder you manage, e.g. a shared copy of every dataset);
2. the cache, ``<cache>/data/<name>``, where ``<cache>`` is ``$FIRA_JAX_CACHE`` or
   ``~/.cache/fira_jax``.

When it is in neither and the loader is called with ``download=True``, the files are fetched
from the dataset's canonical public source into the cache, each checked against its SHA-256
before it is kept (a partial or altered file is never left under its final name). Set
``FIRA_JAX_OFFLINE=1`` to make every network download fail at once (``file://`` URLs, local
mirrors, still work).
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import urllib.request
from collections.abc import Callable, Sequence

__all__ = [
  "DATA_DIR_ENV",
  "CACHE_ENV",
  "OFFLINE_ENV",
  "DatasetNotFound",
  "cache_dir",
  "data_search_path",
  "dataset_dir",
  "fetch",
  "sha256_file",
]

DATA_DIR_ENV = "FIRA_JAX_DATA_DIR"
CACHE_ENV = "FIRA_JAX_CACHE"
OFFLINE_ENV = "FIRA_JAX_OFFLINE"
_CHUNK = 1 << 20


class DatasetNotFound(FileNotFoundError):
  """A dataset is neither on disk nor downloadable (offline, or ``download=False``)."""


def cache_dir(*parts: str) -> pathlib.Path:
  """``$FIRA_JAX_CACHE/<parts>`` or ``~/.cache/fira_jax/<parts>`` (not created)."""
  root = os.environ.get(CACHE_ENV) or pathlib.Path.home() / ".cache" / "fira_jax"
  return pathlib.Path(root).expanduser().joinpath(*parts)


def data_search_path(name: str) -> list[pathlib.Path]:
  """Folders searched for dataset ``name``: ``$FIRA_JAX_DATA_DIR/<name>``, then the cache."""
  env = os.environ.get(DATA_DIR_ENV)
  local = [pathlib.Path(env).expanduser() / name] if env else []
  return [*local, cache_dir("data", name)]


def sha256_file(path: str | os.PathLike) -> str:
  """Hex SHA-256 of a file, read in 1 MiB chunks."""
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(_CHUNK), b""):
      digest.update(chunk)
  return digest.hexdigest()


def fetch(
  urls: str | Sequence[str],
  dest: str | os.PathLike,
  sha256: str | None,
  *,
  timeout: float = 60.0,
) -> pathlib.Path:
  """Downloads ``dest`` from the first of ``urls`` that answers, checking its SHA-256.

  An existing ``dest`` with the right checksum is kept as is. The payload is written to
  ``dest.part`` and renamed only once its checksum matches.

  Args:
    urls: one URL or mirrors tried in order (``https://``, ``http://`` or ``file://``).
    dest: the file to create (parent folders are created).
    sha256: expected hex digest of the file; ``None`` only for a payload whose content the
      caller checks itself (an archive that the host may re-compress), then an existing
      ``dest`` is kept without a check.
    timeout: seconds to wait for each connection.

  Returns:
    ``dest`` as a path.

  Raises:
    ValueError: a download's checksum differs from ``sha256`` (the file is not kept).
    DatasetNotFound: no URL could be read (offline, or ``FIRA_JAX_OFFLINE=1``).
  """
  dest = pathlib.Path(dest)
  if dest.is_file() and (sha256 is None or sha256_file(dest) == sha256):
    return dest
  urls = [urls] if isinstance(urls, str) else list(urls)
  if os.environ.get(OFFLINE_ENV, "") not in ("", "0"):  # local file:// mirrors still work
    if not (urls := [u for u in urls if u.startswith("file:")]):
      raise DatasetNotFound(f"download failed: {OFFLINE_ENV} is set (no network access)")
  dest.parent.mkdir(parents=True, exist_ok=True)
  part = dest.with_name(dest.name + ".part")
  errors = []
  for url in urls:
    try:
      digest = hashlib.sha256()
      with urllib.request.urlopen(url, timeout=timeout) as resp, open(part, "wb") as out:
        for chunk in iter(lambda: resp.read(_CHUNK), b""):  # noqa: B023 (consumed at once)
          digest.update(chunk)
          out.write(chunk)
    except (OSError, ValueError) as e:  # URLError is an OSError; ValueError: bad URL
      part.unlink(missing_ok=True)
      errors.append(f"{url}: {e}")
      continue
    if sha256 is not None and digest.hexdigest() != sha256:
      part.unlink(missing_ok=True)
      raise ValueError(
        f"checksum mismatch for {url}: got sha256 {digest.hexdigest()}, expected {sha256}"
      )
    part.replace(dest)
    return dest
  raise DatasetNotFound("download failed: " + "; ".join(errors))


def dataset_dir(
  name: str,
  files: Sequence[str],
  data_dir: str | os.PathLike | None = None,
  *,
  download: bool = False,
  fetch_into: Callable[[pathlib.Path], object] | None = None,
  what: str | None = None,
  hint: str = "",
) -> pathlib.Path:
  """The folder holding dataset ``name`` (all of ``files``), downloading it if asked.

  Args:
    name: the dataset's folder name (``"gsm8k"``).
    files: file names (relative to the folder) that must all be present.
    data_dir: the dataset's folder when given; then only it is searched and downloads go
      into it. ``None`` searches :func:`data_search_path` and downloads into the cache.
    download: fetch missing files with ``fetch_into(folder)`` when nothing was found.
    fetch_into: writes the files into the folder it is given (see :func:`fetch`).
    what: how the error message names the dataset (default ``name``).
    hint: added to the error message (e.g. the canonical source).

  Returns:
    The folder.

  Raises:
    DatasetNotFound: not found, and ``download`` is false or the download failed.
    ValueError: a downloaded file's checksum is wrong.
  """
  if data_dir is not None:
    candidates = [pathlib.Path(data_dir).expanduser()]
  else:
    candidates = data_search_path(name)
  for folder in candidates:
    if all((folder / f).is_file() for f in files):
      return folder
  where = ", ".join(str(c) for c in candidates)
  hint = f" ({hint})" if hint else ""
  message = (
    f"{what or name} not found in {where}: put {', '.join(files)} there{hint}, set "
    f"{DATA_DIR_ENV} to a folder holding {name}/, or load it with download=True while online "
    f"(cached under {cache_dir('data')})"
  )
  if not download or fetch_into is None:
    raise DatasetNotFound(message)
  target = candidates[0] if data_dir is not None else cache_dir("data", name)
  try:
    fetch_into(target)
  except DatasetNotFound as e:
    raise DatasetNotFound(f"{message}: {e}") from e
  missing = [f for f in files if not (target / f).is_file()]
  if missing:
    raise DatasetNotFound(f"{message}: the download left {missing} missing in {target}")
  return target
