"""MNIST / CIFAR-10 download and conversion, on small generated files served locally."""

import gzip
import hashlib
import io
import zipfile

import numpy as np
import pytest

from hypernet import _download, load_cifar10, load_mnist


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
  monkeypatch.setenv("FIRA_JAX_CACHE", str(tmp_path / "cache"))
  monkeypatch.delenv("FIRA_JAX_DATA_DIR", raising=False)


def _sha(data: bytes) -> str:
  return hashlib.sha256(data).hexdigest()


def test_mnist_from_idx_files_in_the_png_order(tmp_path, monkeypatch):
  rng = np.random.default_rng(0)
  mirror = tmp_path / "mirror"
  mirror.mkdir()
  idx, order, arrays = {}, {}, {}
  for split, kind, n, first in (("train", "train", 6, 0), ("test", "t10k", 4, 60_000)):
    x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, n).astype(np.uint8)
    images = bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in (n, 28, 28)) + x.tobytes()
    labels = bytes([0, 0, 8, 1]) + n.to_bytes(4, "big") + y.tobytes()
    for name, raw in ((f"{kind}-images-idx3-ubyte", images), (f"{kind}-labels-idx1-ubyte", labels)):
      gz = gzip.compress(raw)
      (mirror / f"{name}.gz").write_bytes(gz)
      idx[name] = (_sha(gz), _sha(raw))
    perm = rng.permutation(n)
    rows = [f"mnist-pngs/{split}/{y[i]}/{first + i}.png,{y[i]}" for i in perm]
    (mirror / f"{split}.csv").write_text("filepath,label\n" + "\n".join(rows) + "\n")
    order[f"{split}.csv"] = _sha((mirror / f"{split}.csv").read_bytes())
    arrays[f"x_{split}"], arrays[f"y_{split}"] = x[perm], y[perm].astype(np.int64)
  monkeypatch.setattr(_download, "MNIST_MIRRORS", ((tmp_path / "down").as_uri(), mirror.as_uri()))
  monkeypatch.setattr(_download, "MNIST_ORDER_URL", mirror.as_uri())
  monkeypatch.setattr(_download, "_MNIST_IDX", idx)
  monkeypatch.setattr(_download, "_MNIST_ORDER", order)
  monkeypatch.setattr(_download, "MNIST_CONTENT_SHA256", _download.content_sha256(arrays))
  with pytest.raises(FileNotFoundError, match="download=True"):
    load_mnist()
  data = load_mnist(download=True)
  np.testing.assert_array_equal(data.train.x[..., 0], arrays["x_train"])
  np.testing.assert_array_equal(data.test.y, arrays["y_test"])
  assert (tmp_path / "cache" / "data" / "mnist" / "mnist.npz").is_file()
  monkeypatch.setattr(_download, "MNIST_CONTENT_SHA256", "0" * 64)
  with pytest.raises(ValueError, match="converted arrays have sha256"):
    _download.download_mnist(tmp_path / "again")


def test_cifar10_from_the_jpeg_archive(tmp_path, monkeypatch):
  from PIL import Image

  buf = io.BytesIO()
  with zipfile.ZipFile(buf, "w") as z:
    for split in ("train", "test"):
      for cls in _download.CIFAR10_CLASSES:
        for i in (1, 0):  # stored out of order: the packer sorts by file name
          jpg = io.BytesIO()
          Image.new("RGB", (32, 32), (10 * i, 20, 30)).save(jpg, "JPEG")
          z.writestr(f"CIFAR-10-images-x/{split}/{cls}/{i:04d}.jpg", jpg.getvalue())
  archive = tmp_path / "cifar.zip"
  archive.write_bytes(buf.getvalue())
  monkeypatch.setattr(_download, "CIFAR10_ZIP_URL", archive.as_uri())
  monkeypatch.setattr(_download, "CIFAR10_CONTENT_SHA256", "0" * 64)
  with pytest.raises(ValueError, match="converted arrays have sha256 (\\w+)") as e:
    load_cifar10(download=True)
  monkeypatch.setattr(_download, "CIFAR10_CONTENT_SHA256", str(e.value).split()[5].rstrip(","))
  data = load_cifar10(download=True, cache_dir=tmp_path / "decoded")
  assert data.train.x.shape == (20, 32, 32, 3) and list(data.test.y[:4]) == [0, 0, 1, 1]
  assert data.train.x[0, 0, 0, 0] < data.train.x[1, 0, 0, 0]  # 0000.jpg before 0001.jpg
