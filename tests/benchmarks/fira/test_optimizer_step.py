"""The optimizer benchmark runs on a tiny tree and its byte accounting is exact."""

import pytest

from fira_jax.models import CONFIGS, PAPER_RANKS, LlamaConfig

TINY = LlamaConfig(vocab_size=64, d_model=16, ffn_dim=40, num_heads=2, num_layers=2)


@pytest.fixture
def bench(load_benchmark):
  return load_benchmark("optimizer_step")


def test_benchmark_runs_on_a_tiny_tree(bench, monkeypatch):
  monkeypatch.setitem(CONFIGS, "tiny", TINY)
  monkeypatch.setitem(PAPER_RANKS, "tiny", 4)
  times, refresh, bytes_, leaves, rank = bench.bench_jax("tiny", repeats=2, gap=200)
  assert (
    set(times)
    == set(bytes_)
    == {
      "optax_adamw",
      "optax_contrib_galore",
      "fira_jax_galore",
      "fira_jax_fira",
      "fira_jax_fira_eigh",
      "fira_jax_fira_rsvd",
    }
  )
  assert all(len(t) == 2 and min(t) > 0 for t in times.values())
  assert set(refresh) == set(times) - {"optax_adamw"}
  assert sum(projected for _, projected in leaves) == 7 * TINY.num_layers
  # Ours equal the spec's analytic formula, byte for byte.
  assert bytes_["optax_adamw"] == bench.analytic_bytes(leaves, rank, "adamw")
  assert bytes_["fira_jax_galore"] == bench.analytic_bytes(leaves, rank, "galore")
  assert bytes_["fira_jax_fira"] == bench.analytic_bytes(leaves, rank, "fira")


def test_projector_benchmark_on_a_small_matrix(bench):
  rows = bench.bench_svd(m=48, n=96, ranks=(4, 16), repeats=2)
  assert set(rows) == {4, 16}
  for res in rows.values():
    assert list(res) == list(bench.PROJECTORS)
    energies = [e for _, e in res.values()]
    exact = energies[0]
    # No rank-r basis captures more than the exact SVD's; the exact ones capture as much.
    assert all(e <= exact * (1 + 1e-5) for e in energies)
    assert energies[1] >= exact * (1 - 1e-5)
    assert all(len(ts) == 2 and min(ts) > 0 for ts, _ in res.values())


def test_a_subset_of_rows_keeps_the_base(bench, monkeypatch):
  """``--optimizers``: only the named rows run (optax.adamw, the ratios' base, always), and
  the byte accounting of those rows is still exact; an unknown name is an error naming it."""
  assert bench.select(None) == (list(bench._optimizers(1, 1, None)), list(bench.TORCH))
  assert bench.select("official_fira, fira_jax_fira") == (
    ["optax_adamw", "fira_jax_fira"], ["official_fira"])  # fmt: skip
  with pytest.raises(ValueError, match="--optimizers.*'fira_jax_frai'"):
    bench.select("fira_jax_frai")
  monkeypatch.setitem(CONFIGS, "tiny", TINY)
  monkeypatch.setitem(PAPER_RANKS, "tiny", 4)
  jax_names, _ = bench.select("fira_jax_fira")
  times, refresh, bytes_, leaves, rank = bench.bench_jax("tiny", 2, names=jax_names)
  assert set(times) == set(bytes_) == {"optax_adamw", "fira_jax_fira"}
  assert set(refresh) == {"fira_jax_fira"}
  assert bytes_["fira_jax_fira"] == bench.analytic_bytes(leaves, rank, "fira")
