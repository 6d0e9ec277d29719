"""Executes every notebook in ``notebooks/`` with small settings.

Notebooks read ``FIRA_JAX_NOTEBOOK_SMALL=1`` to shrink their runs; a notebook that is not
executed goes stale. Each runs with ``FIRA_JAX_DATA_DIR`` pointing at the datasets that are
available; a notebook listed in ``NEEDS`` is skipped when its datasets are not (the others
fall back to built-in data themselves).
"""

import pathlib

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
NEEDS = {"freekd": ["planetoid"], "pudnet": ["mnist"]}  # datasets a notebook cannot run without
USES = ["gsm8k", "svamp", "tinyshakespeare"]  # read when present
MODULES = {"plankd": ["highway_env"]}  # optional extras a notebook cannot run without


def _data_folder(path, tmp_path, dataset_dir):
  """A folder of links to the datasets the notebook needs (required) or may read."""
  folder = tmp_path / "data"
  folder.mkdir()
  for name in NEEDS.get(path.stem, []):
    (folder / name).symlink_to(dataset_dir(name))
  for name in USES:
    if name in NEEDS.get(path.stem, []):
      continue
    try:
      (folder / name).symlink_to(dataset_dir(name))
    except pytest.skip.Exception:
      pass  # the notebook runs on its fallback data
  return folder


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path: pathlib.Path, tmp_path: pathlib.Path, monkeypatch, dataset_dir):
  for module in MODULES.get(path.stem, []):
    pytest.importorskip(module, reason=f"{path.name} needs {module} (an optional extra)")
  data = _data_folder(path, tmp_path, dataset_dir)
  monkeypatch.setenv("FIRA_JAX_NOTEBOOK_SMALL", "1")
  monkeypatch.setenv("MPLBACKEND", "Agg")
  monkeypatch.setenv("FIRA_JAX_DATA_DIR", str(data))
  monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))
  monkeypatch.setenv("XLA_FLAGS", "")  # one device, as on a laptop or Colab
  nb = nbformat.read(path, as_version=4)
  client = nbclient.NotebookClient(
    nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
  )
  client.execute()
  errors = [
    out
    for cell in nb.cells
    if cell.cell_type == "code"
    for out in cell.get("outputs", [])
    if out.get("output_type") == "error"
  ]
  assert not errors, errors
  # Outputs are stripped in the repository to keep notebooks reviewable.
  on_disk = nbformat.read(path, as_version=4)
  assert all(not c.get("outputs") for c in on_disk.cells if c.cell_type == "code"), (
    f"{path.name}: commit notebooks with outputs stripped"
  )
