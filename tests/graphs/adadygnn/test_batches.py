import numpy as np

import graphs.adadygnn as ada
from graphs._temporal import NeighborIndex
from graphs.adadygnn._train import CHUNK, make_batches


def test_batches_align_neighbours_with_their_edges(tiny_data):
  split = ada.inject_noise(ada.chronological_split(tiny_data), "insert", 0.2, seed=0)
  cfg = ada.AdaDyGNNConfig(num_neighbors=5)
  index = NeighborIndex(split.train)
  stream, b = split.train, 7
  neg = np.arange(len(stream)) % 5 + 1
  batch, valid = make_batches(stream, index, split, cfg, b, neg)
  nb = -(-len(stream) // b)
  assert valid.sum() == nb and len(valid) % CHUNK == 0
  assert batch.nbr.shape == (len(valid), 2, b, 5) and batch.feat.shape == (len(valid), b, 1)
  t_total = split.data.stream.t[-1]
  for e in [0, 1, 8, len(stream) // 2, len(stream) - 1]:
    n, row = divmod(e, b)
    assert batch.src[n, row] == stream.src[e] and batch.dst[n, row] == stream.dst[e]
    assert batch.neg[n, row] == neg[e] and batch.mask[n, row] == 1
    for side, node in enumerate((stream.src[e], stream.dst[e])):
      ids, tj, eidx, mask = index.most_recent(np.array([node]), stream.t[e : e + 1], 5)
      np.testing.assert_array_equal(batch.nbr[n, side, row], ids[0])
      np.testing.assert_array_equal(batch.nmask[n, side, row], mask[0])
      np.testing.assert_array_equal(batch.noise[n, side, row], split.is_noise(eidx[0]) & mask[0])
      phi = 1 / (1 + (stream.t[e] - tj[0]) / t_total)
      np.testing.assert_allclose(batch.phi[n, side, row], phi, rtol=1e-6)
  assert batch.mask[nb - 1].sum() == len(stream) - (nb - 1) * b
  assert not batch.mask[nb:].any()
