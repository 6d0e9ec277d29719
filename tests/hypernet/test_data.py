"""Loaders (documented shapes and ranges, clear errors) and episode sampling."""

import jax
import numpy as np
import pytest

from hypernet import (
  colorize,
  load_cifar10,
  load_dataset,
  load_digits,
  load_mnist,
  make_pool,
  sample_episode,
)


@pytest.fixture(scope="module")
def mnist(dataset_dir):
  return load_mnist(dataset_dir("mnist").parent)


def test_mnist_shapes_and_range(mnist):
  assert mnist.train.x.shape == (60000, 28, 28, 1) and mnist.test.x.shape == (10000, 28, 28, 1)
  assert mnist.train.x.dtype == np.uint8 and set(np.unique(mnist.train.y)) == set(range(10))
  x = mnist.test.images()
  assert x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0


def test_digits_shapes_and_range():
  d = load_digits(seed=0)
  assert len(d.train.y) + len(d.test.y) == 1797
  assert d.train.x.shape[1:] == (28, 28, 1)
  x = d.train.images()
  assert 0.0 <= x.min() and x.max() <= 1.0 and x[:, :4].max() == 0.0  # padded box
  assert abs(len(d.train.y) - len(d.test.y)) <= 10


def test_cifar10_decodes_and_caches(dataset_dir, tmp_path):
  c = load_cifar10(dataset_dir("cifar10").parent, cache_dir=tmp_path, every=200)
  assert c.train.x.shape == (250, 32, 32, 3) and c.test.x.shape == (50, 32, 32, 3)
  assert set(np.unique(c.train.y)) == set(range(10))
  assert list(tmp_path.glob("cifar10_decoded_every200.npz"))
  assert np.allclose(c.mean, [0.49, 0.48, 0.45], atol=0.06)


def test_colored_mnist(mnist):
  small = mnist.test._replace(x=mnist.test.x[:50], y=mnist.test.y[:50])
  c = colorize(small, seed=0)
  assert c.x.shape == (50, 32, 32, 3) and c.x.dtype == np.uint8
  x = c.images()
  corner = x[:, 0, 0]
  assert (np.abs(corner - x[:, 31, 31]) < 1e-6).all()  # background is one colour
  ink = np.linalg.norm(x - corner[:, None, None], axis=-1).max(axis=(1, 2))
  assert (ink >= 0.49).all()  # the brightest stroke is the foreground, >= 0.5 away


def test_missing_files_and_unknown_datasets(tmp_path):
  with pytest.raises(FileNotFoundError, match=r"mnist\.npz"):
    load_mnist(tmp_path)
  with pytest.raises(FileNotFoundError, match="cifar10_jpeg.npz"):
    load_cifar10(tmp_path, cache_dir=tmp_path)
  with pytest.raises(ValueError, match="unknown dataset 'svhn'"):
    load_dataset("svhn", tmp_path)


def test_episodes_are_deterministic_and_permuted(mnist):
  pool = make_pool(mnist.test, mean=mnist.mean, std=mnist.std, k=5)
  a = sample_episode(pool, jax.random.key(3), k=5, n_train=4, n_test=3)
  b = sample_episode(pool, jax.random.key(3), k=5, n_train=4, n_test=3)
  np.testing.assert_array_equal(a.train, b.train)
  assert a.train.shape == (5, 4, 28, 28, 1) and a.test.shape == (5, 3, 28, 28, 1)
  orders = {
    tuple(sample_episode(pool, jax.random.key(s), k=5, n_train=1, n_test=1).classes.tolist())
    for s in range(6)
  }
  assert any(list(o) != sorted(o) for o in orders)  # labels are permuted
  fixed = sample_episode(pool, jax.random.key(3), k=5, n_train=1, n_test=1, permute=False).classes
  assert list(fixed) == sorted(fixed.tolist())


def test_k_larger_than_the_classes_available(mnist):
  with pytest.raises(ValueError, match="k = 5 classes asked for, but only 4"):
    make_pool(mnist.test, classes=[6, 7, 8, 9], k=5)
  pool = make_pool(mnist.test, classes=[6, 7, 8, 9])
  with pytest.raises(ValueError, match="only 4"):
    sample_episode(pool, jax.random.key(0), k=5, n_train=1, n_test=1)
