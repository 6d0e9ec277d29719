"""Sources: deterministic disjoint split, the stdlib default, and clear errors."""

import sys
import types

import pytest

from fira_jax.data import load_text_splits


def test_text_file_split_is_deterministic_and_disjoint(shakespeare_sample):
  spec = f"text:{shakespeare_sample}"
  train, val = load_text_splits(spec, val_fraction=0.1)
  train2, val2 = load_text_splits(spec, val_fraction=0.1)
  assert train == train2 and val == val2
  assert not set(train) & set(val)
  frac = len(val) / (len(train) + len(val))
  assert 0.03 < frac < 0.2
  text = shakespeare_sample.read_text()
  assert sum(len(d) for d in train + val) >= 0.99 * len(text)


def test_folder_source(tmp_path):
  for i in range(40):
    (tmp_path / f"f{i}.txt").write_text(f"document {i}\n\n" * 50)
  (tmp_path / "skip.bin").write_bytes(b"\0\1")
  train, val = load_text_splits(f"text:{tmp_path}", val_fraction=0.2, doc_chars=200)
  assert len(train) > len(val) > 0
  assert all("document" in d for d in train + val)


def test_stdlib_default_has_python_source():
  train, val = load_text_splits("stdlib", max_docs=50)
  assert len(train) == 50 and 0 < len(val) <= 50
  assert any("def " in d for d in train)


def test_bad_specs(tmp_path):
  with pytest.raises(FileNotFoundError, match="no such file or folder"):
    load_text_splits(f"text:{tmp_path / 'nope.txt'}")
  with pytest.raises(ValueError, match="--data must be 'stdlib', 'tinyshakespeare', 'text:PATH'"):
    load_text_splits("c4")
  with pytest.raises(ValueError, match="val_fraction must be in"):
    load_text_splits("stdlib", val_fraction=1.5)
  (tmp_path / "tiny.txt").write_text("one line")
  with pytest.raises(ValueError, match="too small to split"):
    load_text_splits(f"text:{tmp_path / 'tiny.txt'}")


def test_tfds_missing_package_error(monkeypatch):
  monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
  with pytest.raises(ValueError, match="needs tensorflow-datasets.*tfds build c4/en:3.1.0"):
    load_text_splits("tfds:c4/en:3.1.0")


def test_tfds_unprepared_error(monkeypatch):
  builder = types.SimpleNamespace(is_prepared=lambda: False, data_dir="/data/tfds/c4")
  fake = types.ModuleType("tensorflow_datasets")
  fake.builder = lambda name: builder
  monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
  with pytest.raises(ValueError, match="not prepared in /data/tfds/c4; run `tfds build c4/en"):
    load_text_splits("tfds:c4/en:3.1.0")
