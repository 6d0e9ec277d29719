"""Writes ``notebooks/temporal_graphs.ipynb`` (outputs stripped) with nbformat.

Run from the repository root: ``python notebooks/build_temporal_graphs_notebook.py`` then
``ruff format notebooks/temporal_graphs.ipynb``.
"""

import pathlib

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

CELLS = [
  new_markdown_cell(
    "# Temporal graphs: class-incremental learning on open temporal graphs\n\n"
    "Continuous-time graphs are streams of timestamped interactions `(u, v, t)`. The `graphs` "
    "package of fira-jax holds two memory-based temporal GNNs written in JAX + Flax NNX on one "
    "shared event-stream module (`graphs._temporal`: the stream, a time-sorted neighbour "
    "index, the time encoding and fixed-shape batches):\n\n"
    "- **OTGNet** (Feng et al., ICLR 2023, arXiv 2303.15015): new classes keep arriving; the "
    "model learns them one task at a time without forgetting the old ones, with a class-agnostic "
    "information bottleneck on messages between classes and replay of selected triads.\n"
    "- **Ada-DyGNN**: its section follows below.\n\n"
    "Set `FIRA_JAX_NOTEBOOK_SMALL=1` for a quick run."
  ),
  new_code_cell(
    "import importlib.util\n\n"
    'if importlib.util.find_spec("fira_jax") is None:\n'
    "  get_ipython().run_line_magic(\n"
    '      "pip", "install -q \'fira-jax[notebooks] @ git+https://github.com/fira-jax/fira-jax\'"\n'
    "  )"
  ),
  new_code_cell(
    "import os\n\n"
    "import matplotlib.pyplot as plt\n"
    "import numpy as np\n\n"
    "from graphs import otgnet\n\n"
    'SMALL = os.environ.get("FIRA_JAX_NOTEBOOK_SMALL") == "1"\n'
    'DATA = os.environ.get("FIRA_JAX_DATA_DIR", "../../shared/data")\n'
    "print('small settings' if SMALL else 'full settings')"
  ),
  new_markdown_cell(
    "## OTGNet\n\n"
    "### An open temporal graph: OTG-Synth\n\n"
    "The seeded generator draws class means, node features around them, and per task a stream "
    "of edges: triadic closures (probability `p_close`), same-class edges (`p_homo`), and edges "
    "to the other class of the task or to old classes (`p_old`). Classes arrive two per task; "
    "an edge belongs to the task of its newer endpoint. The stream's SHA-256 lets anyone check "
    "they generated the same data."
  ),
  new_code_cell(
    "size = dict(n_per_class=20, m=4, num_features=16) if SMALL else dict(n_per_class=60, m=6)\n"
    "data = otgnet.make_synth(0, n_task=3, **size)\n"
    "splits = otgnet.split_tasks(data)\n"
    "print(f'{data.stream.num_nodes} nodes, {len(data.stream)} events, '\n"
    "      f'{data.n_task} tasks x {data.n_class} classes')\n"
    "print('edges per task:', np.bincount(data.edge_task).tolist())\n"
    "print('sha256', data.sha256[:16], '...')"
  ),
  new_markdown_cell(
    "### OTGNet against fine-tuning\n\n"
    "`train_otgnet` trains task after task and fills the accuracy matrix `acc[t, k]` "
    "(accuracy on task k after training task t). `method_config` gives the baselines and "
    "ablations on the same code path: `finetune` drops the bottleneck and the replay. "
    "Average performance AP is the mean of the last row; average forgetting AF the mean drop "
    "from each old task's best accuracy to its final one."
  ),
  new_code_cell(
    "base = otgnet.OTGNetConfig(batch_size=100, memory_dim=32, hidden_dim=32,\n"
    "                           triads_per_class=4)\n"
    "epochs = 2 if SMALL else 15\n"
    "res = {m: otgnet.train_otgnet(data, otgnet.method_config(m, base), seed=0, epochs=epochs,\n"
    "                              splits=splits)\n"
    "       for m in ('otgnet', 'finetune')}\n"
    "fig, axes = plt.subplots(1, 2, figsize=(9, 4))\n"
    "for ax, (m, r) in zip(axes, res.items(), strict=True):\n"
    "  acc = 100 * np.asarray(r['acc'], float)\n"
    "  im = ax.imshow(np.ma.masked_invalid(acc), vmin=0, vmax=100, cmap='viridis')\n"
    "  for (t, k), v in np.ndenumerate(acc):\n"
    "    if np.isfinite(v):\n"
    "      ax.text(k, t, f'{v:.0f}', ha='center', va='center', color='w')\n"
    "  ax.set_title(f\"{m}: AP {100 * r['ap']:.1f}, AF {100 * r['af']:.1f}\")\n"
    "  ax.set_xlabel('evaluated task k'); ax.set_ylabel('after training task t')\n"
    "  ax.set_xticks(range(data.n_task)); ax.set_yticks(range(data.n_task))\n"
    "fig.colorbar(im, ax=axes, label='accuracy %'); plt.show()"
  ),
  new_markdown_cell(
    "### The selected triads\n\n"
    "After each task OTGNet scores the task's nodes by influence (gradient dot product with "
    "the mean gradient), builds closed triads (`u` linked to both ends of a same-class edge "
    "`s-d` before it) and open ones (`u` linked to `s` but never to `d`), and greedily keeps "
    "important yet diverse ones. Their edges are replayed in later tasks, and the pattern loss "
    "keeps `s, d` close and `d, u` apart in memory. Below: task 0's graph, the selected closed "
    "triads (solid) and open triads (dashed)."
  ),
  new_code_cell(
    "s = data.stream\n"
    "sp = splits[0]\n"
    "nodes = np.unique(np.concatenate([s.src[sp.train_edges], s.dst[sp.train_edges]]))\n"
    "lab = data.node_labels\n"
    "rng = np.random.default_rng(0)\n"
    "angle = {v: np.pi * lab[v] + rng.uniform(-1.2, 1.2) for v in nodes}\n"
    "radius = {v: rng.uniform(0.3, 1.0) for v in nodes}\n"
    "xy = {v: radius[v] * np.array([np.cos(angle[v]), np.sin(angle[v])]) for v in nodes}\n"
    "fig, ax = plt.subplots(figsize=(6, 6))\n"
    "for e in sp.train_edges:\n"
    "  a, b = xy[s.src[e]], xy[s.dst[e]]\n"
    "  ax.plot([a[0], b[0]], [a[1], b[1]], color='0.85', lw=0.5, zorder=0)\n"
    "pts = np.stack([xy[v] for v in nodes])\n"
    "ax.scatter(pts[:, 0], pts[:, 1], c=lab[nodes], cmap='coolwarm', s=15, zorder=1)\n"
    "tri = [t for t in res['otgnet']['triads'] if t['task'] == 0 and t['real']]\n"
    "for i, t in enumerate(tri):\n"
    "  sv, dv, uv = t['nodes']\n"
    "  pairs = [(sv, uv), (dv, uv), (sv, dv)] if t['kind'] == 'closed' else [(sv, uv), (sv, dv)]\n"
    "  style = '-' if t['kind'] == 'closed' else '--'\n"
    "  for a, b in pairs:\n"
    "    ax.plot([xy[a][0], xy[b][0]], [xy[a][1], xy[b][1]], style, color=f'C{i % 10}', lw=2)\n"
    "ax.set_title(f'task 0: {len(tri)} selected triads (colour = one triad)'); ax.axis('off')\n"
    "plt.show()"
  ),
  new_markdown_cell(
    "### Full runs\n\n"
    "`fira-jax graphs otgnet --dataset {synth,cora,citeseer} --method M --epochs E --seeds S "
    "--json out.json` runs OTGNet or a baseline (`finetune`, `joint`, `er`, `ewc`, `lwf`) or an "
    "ablation (`no_ib`, `no_triad`, `random_triads`, `importance_only`, `no_pattern_loss`); "
    "`benchmarks/graphs/otgnet_compare.py` runs the whole comparison."
  ),
  new_markdown_cell(
    "## Ada-DyGNN\n\n*(Section to be added: Ada-DyGNN on the same temporal-graph module.)*"
  ),
]


def main() -> None:
  nb = new_notebook(cells=CELLS)
  nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
  path = pathlib.Path(__file__).with_name("temporal_graphs.ipynb")
  nbformat.write(nb, path)
  print(f"wrote {path}")


if __name__ == "__main__":
  main()
