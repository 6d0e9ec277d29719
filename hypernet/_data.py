"""Image datasets for PudNet, read from files on disk (or downloaded once, on request).

Every loader returns :class:`Splits` of :class:`ImageSet` s holding ``uint8`` images
``(N, H, W, C)`` (value ``v`` means ``v / 255`` in ``[0, 1]``) and ``int32`` labels, plus the
training split's per-channel mean and std (of the ``[0, 1]`` images) for normalisation.

Expected files under ``data_dir``:

- ``mnist/mnist.npz`` with ``x_train (60000, 28, 28)``, ``y_train``, ``x_test (10000, 28, 28)``,
  ``y_test`` (uint8);
- ``cifar10/cifar10_jpeg.npz`` with ``{train,test}_jpeg`` (concatenated JPEG bytes),
  ``{split}_offsets`` (n + 1) and ``{split}_labels``; decoded once with Pillow and cached.

Given no ``data_dir``, MNIST and CIFAR-10 are looked for in ``$FIRA_JAX_DATA_DIR`` and then the
cache (see :mod:`fira_jax.lab.download`); ``download=True`` fetches and converts them from their
public sources when missing (checked by SHA-256). scikit-learn's bundled digits need no file;
Colored-MNIST is built locally from MNIST.
"""

from __future__ import annotations

import io
import os
import pathlib
from typing import NamedTuple

import numpy as np

from fira_jax.lab import seeds
from fira_jax.lab.download import dataset_dir

__all__ = [
  "ImageSet",
  "Splits",
  "DATASETS",
  "load_dataset",
  "load_mnist",
  "load_cifar10",
  "load_digits",
  "colorize",
  "load_tfds",
]


class ImageSet(NamedTuple):
  """Images ``x`` uint8 ``(N, H, W, C)`` and labels ``y`` int32 ``(N,)`` in ``[0, num_classes)``."""

  x: np.ndarray
  y: np.ndarray
  num_classes: int

  def images(self) -> np.ndarray:
    """The images as float32 in ``[0, 1]``."""
    return self.x.astype(np.float32) / 255.0


class Splits(NamedTuple):
  """A dataset's splits and the training split's per-channel ``mean``/``std`` (``(C,)``)."""

  name: str
  train: ImageSet
  test: ImageSet
  mean: np.ndarray
  std: np.ndarray


def _splits(name: str, train: ImageSet, test: ImageSet) -> Splits:
  x = train.images()
  return Splits(name, train, test, x.mean(axis=(0, 1, 2)), x.std(axis=(0, 1, 2)) + 1e-6)


def _require(
  data_dir: str | os.PathLike | None, name: str, file: str, what: str, download: bool
) -> pathlib.Path:
  from hypernet import _download

  folder = dataset_dir(
    name,
    [file],
    None if data_dir is None else pathlib.Path(data_dir) / name,
    download=download,
    fetch_into=getattr(_download, f"download_{name}"),
    what=what,
    hint="pass --data-dir DIR with " + f"{name}/{file} inside; see docs/hypernet.md",
  )
  return folder / file


def load_mnist(data_dir: str | os.PathLike | None = None, *, download: bool = False) -> Splits:
  """MNIST from ``<data_dir>/mnist/mnist.npz``: 60,000 / 10,000 images ``(N, 28, 28, 1)``.

  ``data_dir=None`` looks in ``$FIRA_JAX_DATA_DIR`` and then the cache; ``download=True``
  builds the file from the original IDX files when it is missing.
  """
  path = _require(data_dir, "mnist", "mnist.npz", "MNIST", download)
  with np.load(path) as f:
    sets = [
      ImageSet(f[f"x_{s}"][..., None].astype(np.uint8), f[f"y_{s}"].astype(np.int32), 10)
      for s in ("train", "test")
    ]
  return _splits("mnist", *sets)


def _default_cache() -> pathlib.Path:
  root = os.environ.get("FIRA_JAX_CACHE") or pathlib.Path.home() / ".cache" / "fira_jax"
  return pathlib.Path(root) / "hypernet"


_CIFAR10_FULL_BYTES = 55_793_123  # the shared cifar10_jpeg.npz; other files get their own cache


def load_cifar10(
  data_dir: str | os.PathLike | None = None,
  *,
  cache_dir: str | os.PathLike | None = None,
  every: int = 1,
  download: bool = False,
) -> Splits:
  """CIFAR-10 from ``<data_dir>/cifar10/cifar10_jpeg.npz``: ``(N, 32, 32, 3)``, 10 classes.

  The JPEGs are decoded once with Pillow (about 30 s for all 60,000 images on one core, in
  threads on several) and the arrays cached as ``cifar10_decoded[_<bytes>][_every<n>].npz`` in
  ``cache_dir`` (default ``$FIRA_JAX_CACHE/hypernet`` or ``~/.cache/fira_jax/hypernet``); a file
  of another size than the full one (a subset in the same format) gets its own cache entry.

  Args:
    data_dir: folder holding ``cifar10/``; ``None`` looks in ``$FIRA_JAX_DATA_DIR`` and then
      the cache.
    cache_dir: where the decoded arrays are kept.
    every: keep every ``every``-th image of each split (a quick subset for tests).
    download: when the file is missing, fetch the CIFAR-10-images JPEGs and pack them.
  """
  path = _require(data_dir, "cifar10", "cifar10_jpeg.npz", "CIFAR-10", download)
  cache = pathlib.Path(cache_dir) if cache_dir is not None else _default_cache()
  tag = "" if path.stat().st_size == _CIFAR10_FULL_BYTES else f"_{path.stat().st_size}"
  name = "cifar10_decoded" + tag + ("" if every == 1 else f"_every{every}") + ".npz"
  cached = cache / name
  if not cached.is_file():
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image

    def decode(blob: bytes) -> np.ndarray:
      return np.asarray(Image.open(io.BytesIO(blob)).convert("RGB"))

    arrays = {}
    with np.load(path) as f, ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:
      for s in ("train", "test"):
        raw, off = f[f"{s}_jpeg"], f[f"{s}_offsets"]
        blobs = [raw[off[i] : off[i + 1]].tobytes() for i in range(0, len(off) - 1, every)]
        arrays[f"x_{s}"] = np.stack(list(pool.map(decode, blobs, chunksize=256)))
        arrays[f"y_{s}"] = f[f"{s}_labels"][::every].astype(np.int32)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(cached)
  with np.load(cached) as f:
    sets = [ImageSet(f[f"x_{s}"], f[f"y_{s}"], 10) for s in ("train", "test")]
  return _splits("cifar10", *sets)


def _resize(x: np.ndarray, size: int) -> np.ndarray:
  """Bilinear resize of ``(N, h, w)`` floats to ``(N, size, size)``."""
  import jax

  return np.asarray(jax.image.resize(x, (x.shape[0], size, size), "bilinear"))


def load_digits(*, seed: int = 0, resize: str = "pad") -> Splits:
  """scikit-learn's bundled 8x8 digits (1,797 images, 10 classes) as ``(N, 28, 28, 1)``.

  Values ``0..16`` are scaled by 1/16; ``resize="pad"`` upsamples bilinearly to 20x20 and pads
  to 28x28 centred (the MNIST digit box), ``"plain"`` resizes to 28x28. Each class is split
  50/50 at random (from ``seed``) into ``train`` and ``test``.
  """
  from sklearn.datasets import load_digits as _sk_digits

  if resize not in ("pad", "plain"):
    raise ValueError(f"resize must be 'pad' or 'plain', got {resize!r}")
  d = _sk_digits()
  x = d.images.astype(np.float32) / 16.0
  if resize == "pad":
    x = np.pad(_resize(x, 20), ((0, 0), (4, 4), (4, 4)))
  else:
    x = _resize(x, 28)
  x = np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)[..., None]
  y = d.target.astype(np.int32)
  rng = seeds.np_rng(seed, "digits-split")
  train = np.zeros(len(y), bool)
  for c in range(10):
    idx = rng.permutation(np.flatnonzero(y == c))
    train[idx[: len(idx) // 2]] = True
  return _splits("digits", ImageSet(x[train], y[train], 10), ImageSet(x[~train], y[~train], 10))


def colorize(images: ImageSet, *, seed: int, purpose: str = "colorize") -> ImageSet:
  """Colored-MNIST: pads 28x28 grey digits to 32x32 and paints each digit in a random RGB
  foreground on a random RGB background (both uniform in ``[0, 1]^3``, L2 gap >= 0.5)."""
  rng = seeds.np_rng(seed, purpose)
  n = len(images.y)
  fg, bg = rng.uniform(size=(n, 3)), rng.uniform(size=(n, 3))
  bad = np.linalg.norm(fg - bg, axis=1) < 0.5
  while bad.any():  # redraw pairs too close in colour
    fg[bad], bg[bad] = rng.uniform(size=(bad.sum(), 3)), rng.uniform(size=(bad.sum(), 3))
    bad = np.linalg.norm(fg - bg, axis=1) < 0.5
  a = np.pad(images.images(), ((0, 0), (2, 2), (2, 2), (0, 0)))  # (n, 32, 32, 1) ink
  rgb = a * fg[:, None, None, :] + (1 - a) * bg[:, None, None, :]
  return ImageSet(np.round(rgb * 255).astype(np.uint8), images.y, images.num_classes)


def _transformed(base: Splits, name: str, fn) -> Splits:
  sets = [ImageSet(fn(s.x), s.y, s.num_classes) for s in (base.train, base.test)]
  return _splits(name, *sets)


def load_dataset(name: str, data_dir: str | os.PathLike | None = None, *, seed: int = 0) -> Splits:
  """A dataset by name: one of :data:`DATASETS`."""
  if name not in DATASETS:
    raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
  if name.startswith(("mnist", "colored_mnist", "cifar")) and data_dir is None:
    raise ValueError(f"dataset {name!r} needs --data-dir (the folder holding mnist/ and cifar10/)")
  return DATASETS[name](data_dir, seed)


def _colored(base: Splits, name: str, seed: int) -> Splits:
  sets = [
    colorize(s, seed=seed, purpose=f"{name}-{i}") for i, s in enumerate((base.train, base.test))
  ]
  return _splits(name, *sets)


DATASETS = {
  "mnist": lambda d, s: load_mnist(d),
  "cifar10": lambda d, s: load_cifar10(d),
  "digits": lambda d, s: load_digits(seed=s),
  "mnist_inverted": lambda d, s: _transformed(load_mnist(d), "mnist_inverted", lambda x: 255 - x),
  "mnist_rotated": lambda d, s: _transformed(
    load_mnist(d), "mnist_rotated", lambda x: np.ascontiguousarray(np.rot90(x, 1, axes=(1, 2)))
  ),
  "colored_mnist": lambda d, s: _colored(load_mnist(d), "colored_mnist", s),
  "colored_digits": lambda d, s: _colored(load_digits(seed=s), "colored_digits", s),
}


def load_tfds(name: str, *, image_size: int | None = None, grayscale: bool = False) -> Splits:
  """A TensorFlow Datasets dataset (``mnist``, ``cifar100``, ``svhn_cropped``, ...) for users
  who are online; needs ``tensorflow-datasets`` (and TensorFlow), not installed by default."""
  try:
    import tensorflow_datasets as tfds
  except ImportError as e:
    raise ImportError("load_tfds needs `pip install tensorflow tensorflow-datasets`") from e
  sets = []
  for split in ("train", "test"):
    data = tfds.as_numpy(tfds.load(name, split=split, batch_size=-1, as_supervised=True))
    x, y = np.asarray(data[0]), np.asarray(data[1]).astype(np.int32)
    if grayscale and x.shape[-1] == 3:
      x = np.round(x.astype(np.float32) @ np.array([0.299, 0.587, 0.114]))[..., None]
    if image_size is not None and x.shape[1] != image_size:
      import jax

      x = jax.image.resize(
        x.astype(np.float32), (len(x), image_size, image_size, x.shape[-1]), "bilinear"
      )
    sets.append(ImageSet(np.clip(np.asarray(x), 0, 255).astype(np.uint8), y, int(y.max()) + 1))
  return _splits(name, *sets)
