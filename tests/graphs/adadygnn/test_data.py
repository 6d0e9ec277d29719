import numpy as np
import pytest

import graphs.adadygnn as ada
from fira_jax.lab.download import sha256_file
from graphs.adadygnn import _data


@pytest.fixture(scope="module")
def uci(uci_dir):
  return ada.load_college_msg(uci_dir)


@pytest.fixture(scope="module")
def split(uci):
  return ada.chronological_split(uci)


def test_college_msg_loads(uci):
  s = uci.stream
  assert len(s) == 59_835 and s.num_nodes == 1_899
  assert s.t[0] == 0 and s.t[-1] == 16_736_181
  assert np.all(np.diff(s.t) >= 0) and np.array_equal(s.idx, np.arange(1, 59_836))
  assert uci.edge_features.shape == (59_836, 1) and not uci.edge_features.any()


def test_spec_split_sizes(split):
  assert split.split_sizes() == {
    "train": 36_556, "val": 5_983, "test": 5_984, "new_node_val": 2_693, "new_node_test": 3_366,
  }  # fmt: skip
  assert split.val_time == pytest.approx(4_882_045.4)
  assert split.test_time == pytest.approx(8_946_952.6)
  assert len(split.train_nodes()) == 1_506 and len(split.held_out) == 189
  assert not np.isin(split.train.src, split.held_out).any()
  assert split.train.t.max() <= split.val_time < split.val.t.min()
  assert split.val.t.max() <= split.test_time < split.test.t.min()
  nn = split.new_node_test
  assert np.all(np.isin(nn.src, split.new_nodes) | np.isin(nn.dst, split.new_nodes))


def test_split_variant(uci):
  sizes = ada.chronological_split(uci, 0.7, 0.85).split_sizes()
  assert sizes == {
    "train": 29_982, "val": 8_975, "test": 8_976, "new_node_val": 4_934, "new_node_test": 5_635,
  }  # fmt: skip


def _same(a, b):
  return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("src", "dst", "t", "idx"))


@pytest.mark.parametrize("rho", [0.1, 0.25, 0.5])
@pytest.mark.parametrize("kind", ["insert", "delete"])
def test_noise_count_and_only_train(split, kind, rho):
  noisy = ada.inject_noise(split, kind, rho, seed=3)
  m = len(split.train)
  n = round(rho * m)
  assert len(noisy.train) == m + n if kind == "insert" else m - n
  for name in ("val", "test", "new_node_val", "new_node_test"):
    assert _same(getattr(noisy, name), getattr(split, name))
  assert np.all(np.diff(noisy.train.t) >= 0)
  injected = noisy.is_noise(noisy.train.idx)
  if kind == "insert":
    assert injected.sum() == n
    assert np.all(noisy.train.src[injected] != noisy.train.dst[injected])
    nodes = split.train_nodes()
    assert np.isin(noisy.train.src[injected], nodes).all()
    real = noisy.train.subset(~injected)
    assert _same(real, split.train)  # real edges kept, in order
    assert noisy.train.t[injected].max() <= split.val_time
  else:
    assert not injected.any()
    assert np.isin(noisy.train.idx, split.train.idx).all()
  # the evaluation index holds the noisy training stream and every non-train event
  assert len(noisy.full_stream()) == len(split.data.stream) - m + len(noisy.train)
  # same seed, same noise
  assert _same(ada.inject_noise(split, kind, rho, seed=3).train, noisy.train)


def test_noisy_nodes(split):
  noisy = ada.inject_noise(split, "noisy_nodes", 0.2, seed=0)
  tr, nt = split.train, noisy.train
  assert len(nt) == len(tr) and np.array_equal(nt.idx, tr.idx) and np.array_equal(nt.t, tr.t)
  changed = (nt.src != tr.src) | (nt.dst != tr.dst)
  assert 0 < changed.mean() < 1
  assert np.all(nt.src != nt.dst)
  assert _same(noisy.test, split.test)


def test_rho_zero_is_identity(split):
  assert ada.inject_noise(split, "insert", 0.0, 0) is split


@pytest.mark.parametrize(
  ("kind", "rho", "match"),
  [("flip", 0.1, "noise must be one of"), ("delete", 1.5, r"\[0, 1\]"),
   ("insert", -0.1, "must lie in"), ("insert", float("nan"), "must lie in")],
)  # fmt: skip
def test_noise_bad_inputs(split, kind, rho, match):
  with pytest.raises(ValueError, match=match):
    ada.inject_noise(split, kind, rho, 0)


def test_split_bad_inputs(tiny_data):
  with pytest.raises(ValueError, match="val_quantile"):
    ada.chronological_split(tiny_data, 0.9, 0.8)
  with pytest.raises(ValueError, match="new_node_fraction"):
    ada.chronological_split(tiny_data, new_node_fraction=1.0)
  with pytest.raises(ValueError, match="node ids must be >= 1"):
    ada.make_temporal_data([0, 1], [1, 2], [0.0, 1.0])
  with pytest.raises(ValueError, match="equal-length"):
    ada.make_temporal_data([1, 2], [2], [0.0, 1.0])
  with pytest.raises(ValueError, match="edge_features"):
    ada.make_temporal_data([1, 2], [2, 1], [0.0, 1.0], np.zeros((5, 2)))


def test_missing_college_msg(tmp_path):
  with pytest.raises(FileNotFoundError, match="CollegeMsg"):
    ada.load_college_msg(tmp_path)


def test_download_checks_sha256(uci_dir, tmp_path, monkeypatch):
  src = uci_dir / "CollegeMsg.txt"
  monkeypatch.setattr(_data, "COLLEGE_MSG_URL", src.resolve().as_uri())
  data = ada.load_college_msg(tmp_path / "a", download=True)
  assert len(data.stream) == 59_835
  assert sha256_file(tmp_path / "a" / "CollegeMsg.txt") == ada.COLLEGE_MSG_SHA256
  bad = tmp_path / "bad.txt"
  bad.write_text("1 2 3\n")
  monkeypatch.setattr(_data, "COLLEGE_MSG_URL", bad.as_uri())
  with pytest.raises(ValueError, match="checksum mismatch"):
    ada.download_college_msg(tmp_path / "b")
  assert not (tmp_path / "b" / "CollegeMsg.txt").exists()


def test_official_csv_roundtrip(tiny_data, tmp_path, write_official):
  ef = write_official(tmp_path, tiny_data)
  data = ada.load_official_csv("tiny", tmp_path)
  assert _same(data.stream, tiny_data.stream)
  np.testing.assert_array_equal(data.edge_features, ef)
  with pytest.raises(FileNotFoundError, match="ml_other.csv"):
    ada.load_official_csv("other", tmp_path)
  np.save(tmp_path / "ml_tiny.npy", ef[:-1])
  with pytest.raises(ValueError, match="edge features"):
    ada.load_official_csv("tiny", tmp_path)
