import numpy as np
import pytest

from graphs import _planetoid, download_planetoid, load_planetoid, random_split

# Known figures of the public Planetoid split (Kipf & Welling 2017; PyG's Planetoid docs).
KNOWN = {
  "cora": dict(n=2708, f=1433, c=7, edges=10556),
  "citeseer": dict(n=3327, f=3703, c=6, edges=9104),
}


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_shapes_split_and_normalisation(name, planetoid_dir):
  d = load_planetoid(name, planetoid_dir)
  k = KNOWN[name]
  g = d.graph
  assert g.nodes.shape == (k["n"], k["f"])
  assert d.num_classes == k["c"]
  senders, receivers = np.asarray(g.senders), np.asarray(g.receivers)
  loops = senders == receivers
  assert loops.sum() == k["n"]  # one self loop per node
  assert (~loops).sum() == k["edges"]
  # undirected: every edge appears in both directions, no duplicates
  pairs = set(zip(senders[~loops].tolist(), receivers[~loops].tolist(), strict=True))
  assert len(pairs) == k["edges"] and all((r, s) in pairs for s, r in pairs)
  train, val, test = (np.asarray(m) for m in (d.train_mask, d.val_mask, d.test_mask))
  assert (train.sum(), val.sum(), test.sum()) == (20 * k["c"], 500, 1000)
  assert np.max(train + val + test) == 1.0  # disjoint
  np.testing.assert_array_equal(np.bincount(np.asarray(d.labels)[train > 0]), [20] * k["c"])
  rows = np.asarray(g.nodes).sum(1)
  np.testing.assert_allclose(rows[rows > 0], 1.0, rtol=1e-5)


def test_random_split_fractions(cora):
  d = random_split(cora, seed=3)
  masks = np.stack([np.asarray(m) for m in (d.train_mask, d.val_mask, d.test_mask)])
  np.testing.assert_array_equal(masks.sum(0), 1.0)
  np.testing.assert_allclose(masks.sum(1) / 2708, [0.6, 0.2, 0.2], atol=0.005)
  again = random_split(cora, seed=3)
  np.testing.assert_array_equal(d.train_mask, again.train_mask)
  with pytest.raises(ValueError, match="train and val"):
    random_split(cora, 0, train=0.9, val=0.2)


def test_unknown_dataset(tmp_path):
  with pytest.raises(ValueError, match=r"dataset must be one of \['cora', 'citeseer'\]"):
    load_planetoid("pubmedx", tmp_path)


def test_missing_files_message(tmp_path):
  with pytest.raises(
    FileNotFoundError, match=r"not found in .*: put ind\.cora\.x, ind\.cora\.y, .* there"
  ):
    load_planetoid("cora", tmp_path)


def test_download_offline_names_files(tmp_path, monkeypatch):
  def offline(*args, **kwargs):
    raise OSError("network is unreachable")

  monkeypatch.setattr("urllib.request.urlopen", offline)
  with pytest.raises(FileNotFoundError, match=r"ind\.citeseer\.graph.*download failed"):
    load_planetoid("citeseer", tmp_path, download=True)


def test_download_checks_checksum(tmp_path, monkeypatch, planetoid_dir):
  monkeypatch.setattr(_planetoid, "PLANETOID_URL", planetoid_dir.as_uri())  # a local mirror
  download_planetoid("cora", tmp_path / "dl")
  assert load_planetoid("cora", tmp_path / "dl").graph.nodes.shape == (2708, 1433)
  bad = tmp_path / "bad"
  bad.mkdir()
  (bad / "ind.cora.x").write_bytes(b"bad")
  monkeypatch.setattr(_planetoid, "PLANETOID_URL", bad.as_uri())
  (tmp_path / "dl" / "ind.cora.x").unlink()
  with pytest.raises(ValueError, match=r"checksum mismatch for .*ind\.cora\.x"):
    download_planetoid("cora", tmp_path / "dl")
  assert not (tmp_path / "dl" / "ind.cora.x").exists()


def test_load_without_folder_uses_data_dir_env_then_cache(tmp_path, monkeypatch, planetoid_dir):
  monkeypatch.setenv("FIRA_JAX_CACHE", str(tmp_path / "cache"))
  monkeypatch.setenv("FIRA_JAX_DATA_DIR", str(planetoid_dir.parent))
  assert load_planetoid("cora").graph.nodes.shape == (2708, 1433)
  monkeypatch.setenv("FIRA_JAX_DATA_DIR", str(tmp_path / "empty"))
  monkeypatch.setattr(_planetoid, "PLANETOID_URL", planetoid_dir.as_uri())
  with pytest.raises(FileNotFoundError, match="FIRA_JAX_DATA_DIR"):
    load_planetoid("cora")
  assert load_planetoid("cora", download=True).num_classes == 7
  assert (tmp_path / "cache" / "data" / "planetoid" / "ind.cora.graph").is_file()
