"""Writes ``notebooks/adadygnn.ipynb`` (outputs stripped). Run: ``python notebooks/make_adadygnn_notebook.py``."""

import pathlib

import nbformat

cells = [
  nbformat.v4.new_markdown_cell(
    "# Ada-DyGNN: which neighbours to update after an interaction\n\n"
    "A memory-based temporal GNN updates both endpoints of each new message and, through a "
    "Bernoulli policy per neighbour trained with self-critical REINFORCE on a local-structure "
    "stability reward, decides which of their 20 most recent neighbours to update as well. "
    "Here: the UCI messages stream (CollegeMsg) and its chronological split, noise injected "
    "into the training stream, a short training run, then the benchmark's curves: MRR "
    "against the noise ratio per policy, and how often the learned policy updates a neighbour "
    "whose interaction was injected noise.\n\n"
    "With `FIRA_JAX_NOTEBOOK_SMALL=1` (as in CI) the live run uses a prefix of the stream, "
    "or a synthetic stream when CollegeMsg is not available."
  ),
  nbformat.v4.new_code_cell(
    "import importlib.util\n"
    "\n"
    'if importlib.util.find_spec("graphs") is None:\n'
    '  get_ipython().run_line_magic("pip", "install -q \'fira-jax[notebooks] @ '
    "git+https://github.com/fira-jax/fira-jax'\")"
  ),
  nbformat.v4.new_code_cell(
    "import json\n"
    "import os\n"
    "import pathlib\n"
    "\n"
    "import matplotlib.pyplot as plt\n"
    "import numpy as np\n"
    "\n"
    "import graphs\n"
    "import graphs.adadygnn as ada\n"
    "\n"
    'SMALL = os.environ.get("FIRA_JAX_NOTEBOOK_SMALL") == "1"\n'
    'DATA_DIR = pathlib.Path(os.environ.get("FIRA_JAX_DATA_DIR", "data")) / "uci_msg"\n'
    "try:  # outside CI the file is fetched (checksummed) from its pinned public copy\n"
    "  data = ada.load_college_msg(DATA_DIR, download=not SMALL)\n"
    "except FileNotFoundError:  # offline: a synthetic stream with repeated conversations\n"
    "  rng = np.random.default_rng(0)\n"
    "  friends = rng.integers(1, 301, (300, 3))\n"
    "  src = rng.integers(1, 301, 6000)\n"
    "  dst = friends[src - 1, rng.integers(0, 3, 6000)]\n"
    "  keep = src != dst\n"
    '  data = ada.make_temporal_data(src[keep], dst[keep], np.sort(rng.uniform(0, 1e6, keep.sum())), name="synthetic")\n'
    "split = ada.chronological_split(data)\n"
    "print(data.name, len(data.stream), 'events,', data.stream.num_nodes, 'nodes')\n"
    "print(split.split_sizes())"
  ),
  nbformat.v4.new_markdown_cell(
    "## Noise in the training stream\n\n"
    "`insert` adds round(ρ·|E_train|) uniform fake edges at resampled training times, `delete` "
    "drops as many, `noisy_nodes` rewires the edges of round(ρ·|V_train|) nodes. Validation "
    "and test are never touched; injected edges get ids after the real ones, so the training "
    "loop can tell, per neighbour slot, whether its interaction was noise."
  ),
  nbformat.v4.new_code_cell(
    "for kind in ada.NOISE_KINDS:\n"
    "  noisy = ada.inject_noise(split, kind, 0.3, seed=0)\n"
    "  print(f'{kind:12s} train edges {len(noisy.train):6d}  injected {int(noisy.is_noise(noisy.train.idx).sum()):5d}  '\n"
    "        f'test unchanged: {np.array_equal(noisy.test.idx, split.test.idx)}')"
  ),
  nbformat.v4.new_markdown_cell(
    "## A short run: learned policy vs update-all, with 30% inserted noise\n\n"
    "In small mode on the first 3,000 events (2 epochs); otherwise the full stream (3 epochs, a "
    "few minutes on a CPU)."
  ),
  nbformat.v4.new_code_cell(
    "if SMALL:\n"
    "  s = data.stream\n"
    "  n = min(3000, len(s))\n"
    "  run_split = ada.chronological_split(ada.make_temporal_data(s.src[:n], s.dst[:n], s.t[:n]))\n"
    "  settings = dict(memory_dim=32, message_dim=16, num_neighbors=10, learning_rate=1e-3)\n"
    "  epochs = 2\n"
    "else:\n"
    "  run_split, settings, epochs = split, {}, 3\n"
    "noisy = ada.inject_noise(run_split, 'insert', 0.3, seed=0)\n"
    "live = {}\n"
    "for policy in ('learned', 'all'):\n"
    "  config = ada.AdaDyGNNConfig(policy=policy, **settings)\n"
    "  live[policy] = ada.train_adadygnn(noisy, config, seed=0, epochs=epochs, progress=True)\n"
    "  t = live[policy]['test']\n"
    "  print(f\"{policy:8s} test MRR {t['mrr']:.4f}  AP {t['ap']:.4f}\")\n"
    "last = live['learned']['epochs'][-1]\n"
    "print(f\"learned policy, last epoch: updates {100 * last['noise_update_rate']:.1f}% of noise slots, \"\n"
    "      f\"{100 * last['clean_update_rate']:.1f}% of real ones\")"
  ),
  nbformat.v4.new_markdown_cell(
    "## The benchmark: MRR against ρ per policy, and the policy on noise slots\n\n"
    "From `benchmarks/results/graphs/adadygnn_runs.jsonl` (UCI, see `adadygnn.md` there for "
    "the tables, seeds and protocol)."
  ),
  nbformat.v4.new_code_cell(
    "root = pathlib.Path(graphs.__file__).resolve().parent.parent\n"
    "runs_file = root / 'benchmarks' / 'results' / 'graphs' / 'adadygnn_runs.jsonl'\n"
    "runs = [json.loads(line) for line in runs_file.read_text().splitlines()] if runs_file.exists() else []\n"
    "print(len(runs), 'runs')\n"
    "\n"
    "def mrr(policy, noise, rho):\n"
    "  noise = 'none' if rho == 0 else noise\n"
    "  vals = [r['metrics']['transductive']['mrr'] for r in runs if r['method'] == policy\n"
    "          and r['settings']['noise'] == noise and r['settings']['rho'] == rho]\n"
    "  return (np.mean(vals), np.std(vals)) if vals else (np.nan, np.nan)\n"
    "\n"
    "fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))\n"
    "for ax, noise in zip(axes[:2], ('insert', 'delete')):\n"
    "  rhos = sorted({0.0} | {r['settings']['rho'] for r in runs if r['settings']['noise'] == noise})\n"
    "  for policy in ada.POLICIES:\n"
    "    m = np.array([mrr(policy, noise, x) for x in rhos])\n"
    "    if np.isfinite(m[:, 0]).sum() > 1:\n"
    "      ax.errorbar(rhos, m[:, 0], yerr=m[:, 1], marker='o', capsize=3, label=policy)\n"
    "  ax.set(xlabel='ρ', ylabel='test MRR', title=f'{noise}: MRR against ρ')\n"
    "  ax.legend()\n"
    "rows = [(r['settings']['rho'], r['epochs'][-1]) for r in runs\n"
    "        if r['method'] == 'learned' and r['settings']['noise'] == 'insert']\n"
    "if rows:\n"
    "  rhos = sorted({x for x, _ in rows})\n"
    "  for key, label in (('noise_update_rate', 'injected-noise slots'), ('clean_update_rate', 'real slots')):\n"
    "    axes[2].plot(rhos, [100 * np.mean([e[key] for x, e in rows if x == r]) for r in rhos], 'o-', label=label)\n"
    "  axes[2].set(xlabel='ρ (insert)', ylabel='% of slots updated', title='learned policy, last epoch')\n"
    "  axes[2].legend()\n"
    "plt.tight_layout()\n"
    "plt.show()"
  ),
]

nb = nbformat.v4.new_notebook(cells=cells)
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
out = pathlib.Path(__file__).resolve().parent / "adadygnn.ipynb"
nbformat.write(nb, out)
print(f"wrote {out}")
