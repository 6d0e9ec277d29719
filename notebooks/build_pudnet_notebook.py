"""Writes ``notebooks/pudnet.ipynb`` (outputs stripped) with nbformat.

Run from the repository root: ``python notebooks/build_pudnet_notebook.py`` then
``ruff format notebooks/pudnet.ipynb``.
"""

import pathlib

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

CELLS = [
  new_markdown_cell(
    "# PudNet: ConvNet parameters for unseen image data in one forward pass\n\n"
    "The `hypernet` package of fira-jax reimplements PudNet (Wang et al., IEEE TIP 2024, "
    "arXiv 2310.11862) in JAX + Flax NNX. A hypernetwork reads a small labelled support set "
    "of a new k-way sub-dataset and writes all the parameters of a ConvNet for it. Here we "
    "meta-train a small PudNet on MNIST sub-datasets, predict a network for unseen test "
    "images, compare it with training from scratch, and look at the predicted filters. Set "
    "`FIRA_JAX_NOTEBOOK_SMALL=1` for a quick run."
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
    "import jax\n"
    "import matplotlib.pyplot as plt\n"
    "import numpy as np\n\n"
    "import hypernet\n\n"
    'SMALL = os.environ.get("FIRA_JAX_NOTEBOOK_SMALL") == "1"\n'
    'DATA = os.environ.get("FIRA_JAX_DATA_DIR", "../../shared/data")\n'
    "print('small settings' if SMALL else 'full settings')"
  ),
  new_markdown_cell(
    "## Data and sub-datasets\n\n"
    "`load_mnist` reads `mnist/mnist.npz` under the data folder (on Colab, put it there or use "
    "`hypernet.load_tfds('mnist')`). Meta-training episodes are 5-way sub-datasets of the "
    "training split with permuted labels; evaluation sub-datasets come from the test split."
  ),
  new_code_cell(
    "data = hypernet.load_mnist(DATA)\n"
    "small = dict(d=16, h=2, meta_batch=2, meta_steps=20, n_train=20, n_test=10, log_every=5)\n"
    "cfg = hypernet.PudNetConfig(**small) if SMALL else hypernet.PudNetConfig(\n"
    "    meta_steps=300, meta_batch=4, log_every=25)\n"
    "train_pool = hypernet.make_pool(data.train, mean=data.mean, std=data.std)\n"
    "test_pool = hypernet.make_pool(data.test, mean=data.mean, std=data.std)\n"
    "ep = hypernet.sample_episode(test_pool, jax.random.key(0), k=cfg.k, n_train=cfg.n_train,\n"
    "                             n_test=cfg.n_test)\n"
    "fig, axes = plt.subplots(1, cfg.k, figsize=(2 * cfg.k, 2))\n"
    "for j, ax in enumerate(axes):\n"
    "  ax.imshow(ep.train[j, 0, ..., 0], cmap='gray'); ax.axis('off')\n"
    "  ax.set_title(f'label {j} = digit {int(ep.classes[j])}')\n"
    "plt.show()"
  ),
  new_markdown_cell(
    "## Meta-training\n\n"
    "Each step generates a network per episode from its support set and back-propagates the "
    "cross-entropy of that network on the episode's query images into the hypernetwork."
  ),
  new_code_cell(
    "res = hypernet.meta_train(cfg, seed=0, pool=train_pool)\n"
    "model = res.model\n"
    "steps = [h['step'] for h in res.history]\n"
    "plt.plot(steps, [h['loss'] for h in res.history], 'o-')\n"
    "plt.xlabel('meta-step'); plt.ylabel('query cross-entropy'); plt.show()"
  ),
  new_markdown_cell(
    "## Predict a ConvNet for an unseen sub-dataset\n\n"
    "`predict` is one jitted forward pass: `(params, state)` for Net-A, where `state` holds "
    "the support set's batch-norm statistics."
  ),
  new_code_cell(
    "sx, sy = hypernet.flatten(ep.train[:, : cfg.n_support])\n"
    "tx, ty = hypernet.flatten(ep.test)\n"
    "params, state = hypernet.predict(model, sx, sy)\n"
    "logits, _ = model.target.apply(params, state, tx)\n"
    "pudnet_acc = float((logits.argmax(-1) == ty).mean())\n"
    "print(f'PudNet accuracy on {len(ty)} held-out images: {pudnet_acc:.3f} (chance {1 / cfg.k:.2f})')"
  ),
  new_markdown_cell(
    "## Against training from scratch\n\n"
    "Net-A from He initialisation, Adam lr 1e-3, batch 64, on the sub-dataset's "
    "training images; accuracy after every epoch, with the same held-out images."
  ),
  new_code_cell(
    "epochs = 5 if SMALL else 30\n"
    "spec = hypernet.EvalSpec(test_pool, jax.random.key(0), num=1, k=cfg.k,\n"
    "                         n_support=cfg.n_support, n_train=cfg.n_train, n_test=cfg.n_test)\n"
    "scratch = hypernet.train_curves(model.target, spec, jax.random.key(1), epochs=epochs,\n"
    "                                batch=64, lr=1e-3)[0]\n"
    "steps_per_epoch = int(np.ceil(cfg.k * cfg.n_train / 64))\n"
    "x = steps_per_epoch * np.arange(1, epochs + 1)\n"
    "plt.plot(x, scratch, 'o-', label='scratch')\n"
    "plt.axhline(float(hypernet.pudnet_accuracy(model, spec)[0]), color='tab:red',\n"
    "            label='PudNet (0 steps)')\n"
    "plt.xlabel('Adam steps on the sub-dataset'); plt.ylabel('held-out accuracy'); plt.legend()\n"
    "plt.show()"
  ),
  new_markdown_cell("## Predicted first-layer filters"),
  new_code_cell(
    "w = np.asarray(params['kernels']['conv1'])[:, :, 0, :]  # (3, 3, 32)\n"
    "fig, axes = plt.subplots(4, 8, figsize=(8, 4))\n"
    "for i, ax in enumerate(axes.flat):\n"
    "  ax.imshow(w[:, :, i], cmap='RdBu'); ax.axis('off')\n"
    "plt.suptitle('conv1 filters predicted for this sub-dataset'); plt.show()"
  ),
]


def main() -> None:
  nb = new_notebook(cells=CELLS)
  nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
  path = pathlib.Path(__file__).with_name("pudnet.ipynb")
  nbformat.write(nb, path)
  print(f"wrote {path}")


if __name__ == "__main__":
  main()
