"""Writes ``notebooks/freekd.ipynb`` (outputs stripped). Run: ``python notebooks/make_freekd_notebook.py``."""

import pathlib

import nbformat

cells = [
  nbformat.v4.new_markdown_cell(
    "# FreeKD on Cora: two GCNs teaching each other in free directions\n\n"
    "Two shallow GCNs are trained together; a reinforcement-learning agent decides, per node, "
    "which network sends its soft label to the other (node-level action) and whether the "
    "sender's local structure is transferred as well (structure-level action). We compare with "
    "a single GCN, then look at the agent's decisions: per class, how often each network is "
    "chosen as the teacher, against which network is actually right on those nodes.\n\n"
    "With `FIRA_JAX_NOTEBOOK_SMALL=1` (as in CI) the runs are shortened."
  ),
  nbformat.v4.new_code_cell(
    "import importlib.util\n"
    "\n"
    'if importlib.util.find_spec("graphs") is None:\n'
    '  get_ipython().run_line_magic("pip", "install -q \'fira-jax[notebooks] @ '
    "git+https://github.com/fira-jax/fira-jax'\")"
  ),
  nbformat.v4.new_code_cell(
    "import os\n"
    "import pathlib\n"
    "\n"
    "import matplotlib.pyplot as plt\n"
    "import numpy as np\n"
    "\n"
    "import graphs\n"
    "\n"
    'SMALL = os.environ.get("FIRA_JAX_NOTEBOOK_SMALL") == "1"\n'
    "EPOCHS = 60 if SMALL else 300\n"
    'DATA_DIR = pathlib.Path(os.environ.get("FIRA_JAX_DATA_DIR", "data")) / "planetoid"\n'
    "# Outside CI the files are fetched (checksummed) from the public Planetoid repository.\n"
    'data = graphs.load_planetoid("cora", DATA_DIR, download=True)\n'
    "print(data.graph.nodes.shape, int(data.train_mask.sum()), int(data.val_mask.sum()),\n"
    "      int(data.test_mask.sum()))"
  ),
  nbformat.v4.new_markdown_cell("## A single GCN (public split), then FreeKD with two GCNs"),
  nbformat.v4.new_code_cell(
    "schedule = graphs.NodeTrainConfig(epochs=EPOCHS, patience=EPOCHS)\n"
    'single = graphs.train_node_classifier(data, "gcn", seed=0, train_config=schedule,\n'
    "                                      progress=True)\n"
    "config = graphs.FreeKDConfig(warmup=10 if SMALL else 20)\n"
    'res = graphs.train_freekd(data, ("gcn", "gcn"), config=config, train_config=schedule,\n'
    "                          seed=0, progress=True, record_every=10)\n"
    'print(f"single GCN test acc {single.test_acc:.3f}")\n'
    'print("FreeKD test acc (Phi, Psi):", [round(a, 3) for a in res.test_acc])'
  ),
  nbformat.v4.new_code_cell(
    "h = res.history\n"
    "fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))\n"
    'axes[0].plot(single.history["val_acc"], "k--", label="single GCN (val)")\n'
    'for k, name in enumerate(["Phi", "Psi"]):\n'
    '  axes[0].plot(h["val_acc"][:, k], label=f"FreeKD {name} (val)")\n'
    'axes[0].set(xlabel="epoch", ylabel="accuracy", title="validation accuracy")\n'
    "axes[0].legend()\n"
    'axes[1].plot(h["share_sender"][:, 0], label="share of nodes Phi -> Psi")\n'
    'axes[1].plot(h["share_structure"], label="share with structure transferred")\n'
    'axes[1].axvline(config.warmup, color="gray", ls=":", label="end of warm-up")\n'
    'axes[1].set(xlabel="epoch", ylim=(0, 1), title="agent decisions")\n'
    "axes[1].legend()\n"
    "plt.tight_layout()"
  ),
  nbformat.v4.new_markdown_cell(
    "## Direction decisions per class, against which network is right\n\n"
    "At the last recorded epoch, per class: the share of nodes where Phi teaches Psi, over all "
    "nodes and over the nodes where only Phi (or only Psi) predicts the right label. A policy "
    "that has learned the right direction sends from Phi where only Phi is right and from Psi "
    "where only Psi is right."
  ),
  nbformat.v4.new_code_cell(
    "snap = res.decisions[-1]\n"
    "labels = np.asarray(data.labels)\n"
    'phi_sends = snap["actions"] == 0\n'
    'only_phi = snap["correct"][0] > snap["correct"][1]\n'
    'only_psi = snap["correct"][1] > snap["correct"][0]\n'
    "\n"
    "\n"
    "def share(mask):\n"
    "  return [phi_sends[mask & (labels == c)].mean() if np.any(mask & (labels == c)) else np.nan\n"
    "          for c in range(data.num_classes)]\n"
    "\n"
    "\n"
    "classes = np.arange(data.num_classes)\n"
    "w = 0.27\n"
    "plt.figure(figsize=(8, 3.5))\n"
    'plt.bar(classes - w, share(np.ones_like(phi_sends)), w, label="all nodes")\n'
    'plt.bar(classes, share(only_phi), w, label="nodes where only Phi is right")\n'
    'plt.bar(classes + w, share(only_psi), w, label="nodes where only Psi is right")\n'
    'plt.xlabel("class")\n'
    'plt.ylabel("share sent Phi -> Psi")\n'
    "plt.ylim(0, 1)\n"
    "plt.title(f\"epoch {snap['epoch']}\")\n"
    "plt.legend()\n"
    "plt.tight_layout()\n"
    'print("nodes where only Phi / only Psi is right:", only_phi.sum(), only_psi.sum())\n'
    'print("share Phi -> Psi over recorded epochs:",\n'
    '      [round(float(np.mean(d["actions"] == 0)), 3) for d in res.decisions])'
  ),
]
nb = nbformat.v4.new_notebook(cells=cells)
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
nbformat.write(nb, pathlib.Path(__file__).with_name("freekd.ipynb"))
# then: ruff format notebooks/freekd.ipynb
