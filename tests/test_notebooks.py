"""The notebooks in ``notebooks/``: each ``.py`` source is in sync with its ``.ipynb``, and runs.

One source format: every notebook is a jupytext percent script, ``notebooks/<name>.py``, paired
with ``notebooks/<name>.ipynb`` (metadata ``jupytext.formats = "ipynb,py:percent"``), which
carries the outputs of a run so that it renders with its plots (on GitHub, in Colab, in the API
reference). The tests check that the cells of the two files agree and that the committed
``.ipynb`` has outputs, and execute every notebook with small settings: notebooks read
``FIRA_JAX_NOTEBOOK_SMALL=1`` to shrink their runs. Each runs with ``FIRA_JAX_DATA_DIR``
pointing at the datasets that are available; a notebook listed in ``NEEDS`` is skipped when its
datasets are not (the others fall back to built-in data themselves).

To add or change a notebook, edit ``notebooks/<name>.py`` and store its ``.ipynb`` with the
outputs of a small run (the settings of these tests; datasets from ``$FIRA_JAX_DATA_DIR``,
default ``../shared/data``)::

  python tests/test_notebooks.py notebooks/<name>.py [...]

With ``--full`` the outputs come from a run with the default settings instead, and the first
markdown cell of both files says so (``FULL_NOTE`` in place of ``STORED_NOTE``).

A notebook made another way (``notebooks/<name>.ipynb`` only) gets its source, the standard
first cells, and its outputs with ``python tests/test_notebooks.py --from-ipynb
notebooks/<name>.ipynb``; then ``ruff format notebooks/<name>.py`` and run the first command
again if ruff changed it.
"""

import os
import pathlib
import sys
import tempfile

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
jupytext = pytest.importorskip("jupytext")

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
SOURCES = sorted(NOTEBOOK_DIR.glob("*.py"))
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
NEEDS = {"freekd": ["planetoid"], "pudnet": ["mnist"]}  # datasets a notebook cannot run without
USES = ["gsm8k", "svamp", "tinyshakespeare", "uci_msg"]  # read when present
MODULES = {"plankd": ["highway_env"]}  # optional extras a notebook cannot run without
FORMATS = "ipynb,py:percent"
# The first code cell of every notebook (a notebook opened alone, in Colab, has nothing to
# import it from).
INSTALL_CELL = """\
# Installs fira-jax when it is not importable (Colab, a fresh kernel): the checkout this
# notebook sits in when there is one (editable), else the `fira-jax` distribution by name.
# FIRA_JAX_PIP_SPEC, when set, gives the pip arguments to install instead, e.g.
# "fira-jax[notebooks]==0.1.0" or "-e /path/to/checkout[notebooks]".
import importlib
import importlib.util
import os
import pathlib
import shlex
import sys

from IPython import get_ipython

spec = os.environ.get("FIRA_JAX_PIP_SPEC")
if spec or importlib.util.find_spec("fira_jax") is None:
  here = pathlib.Path.cwd().resolve()
  tomls = [d / "pyproject.toml" for d in (here, *here.parents)]
  checkout = [t.parent for t in tomls if t.is_file() and 'name = "fira-jax"' in t.read_text()]
  if not spec and checkout:  # editable; importable from the checkout until a kernel restart
    spec = "-e " + shlex.quote(f"{checkout[0]}[notebooks]")
    sys.path.insert(0, str(checkout[0]))
  get_ipython().run_line_magic("pip", f"install -q {spec or shlex.quote('fira-jax[notebooks]')}")
  importlib.invalidate_caches()"""
STORED_NOTE = (
  "*The outputs stored with this notebook come from a run with the small settings"
  " (`FIRA_JAX_NOTEBOOK_SMALL=1`, on a CPU), as in CI; a full run (the default settings) trains"
  " longer.*"
)
FULL_NOTE = (
  "*The outputs stored with this notebook come from a full run (the default settings) on a"
  " 2-core CPU without a GPU; CI runs it with the small settings (`FIRA_JAX_NOTEBOOK_SMALL=1`).*"
)


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


def _cells(nb) -> list[tuple[str, str]]:
  return [(c.cell_type, c.source.strip()) for c in nb.cells]


def execute(nb, data: pathlib.Path, workdir: pathlib.Path, *, small: bool = True):
  """Runs ``nb`` in place with the small settings (``small=False``: the defaults), one CPU
  device and ``data`` as data folder."""
  env = {
    "FIRA_JAX_NOTEBOOK_SMALL": "1" if small else "0",
    "MPLBACKEND": "module://matplotlib_inline.backend_inline",  # figures become outputs
    "FIRA_JAX_DATA_DIR": str(data),
    "PYTHONPATH": str(REPO_ROOT),
    "XLA_FLAGS": "",  # one device, as on a laptop or Colab
  }
  saved = {k: os.environ.get(k) for k in env}
  os.environ.update(env)
  try:
    nbclient.NotebookClient(
      nb,
      timeout=600 if small else 7200,
      kernel_name="python3",
      resources={"metadata": {"path": str(workdir)}},
    ).execute()
  finally:
    for k, v in saved.items():
      if v is None:
        os.environ.pop(k, None)
      else:
        os.environ[k] = v
  return [
    out
    for cell in nb.cells
    if cell.cell_type == "code"
    for out in cell.get("outputs", [])
    if out.get("output_type") == "error"
  ]


def test_every_notebook_has_both_files():
  assert {p.stem for p in SOURCES} == {p.stem for p in NOTEBOOKS}


@pytest.mark.parametrize("path", SOURCES, ids=[p.stem for p in SOURCES])
def test_pair_in_sync(path: pathlib.Path):
  source = jupytext.read(path)
  stored = nbformat.read(path.with_suffix(".ipynb"), as_version=4)
  assert source.metadata.get("jupytext", {}).get("formats") == FORMATS, path.name
  assert stored.metadata.get("jupytext", {}).get("formats") == FORMATS, path.name
  assert _cells(source) == _cells(stored), (
    f"{path.name} and its .ipynb differ: run `python tests/test_notebooks.py {path.name}`"
  )
  first_md = next(c.source for c in stored.cells if c.cell_type == "markdown")
  first_code = next(c.source for c in stored.cells if c.cell_type == "code")
  assert first_code == INSTALL_CELL, f"{path.name}: the first code cell is not INSTALL_CELL"
  outputs = [o for c in stored.cells if c.cell_type == "code" for o in c.get("outputs", [])]
  assert outputs, f"{path.name}: store the .ipynb with the outputs of a run"
  assert not [o for o in outputs if o.get("output_type") == "error"], path.name
  assert (STORED_NOTE in first_md) != (FULL_NOTE in first_md), (
    f"{path.name}: say in the first cell which run is stored (STORED_NOTE or FULL_NOTE)"
  )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path: pathlib.Path, tmp_path: pathlib.Path, dataset_dir):
  for module in MODULES.get(path.stem, []):
    pytest.importorskip(module, reason=f"{path.name} needs {module} (an optional extra)")
  data = _data_folder(path, tmp_path, dataset_dir)
  nb = nbformat.read(path, as_version=4)
  errors = execute(nb, data, tmp_path)
  assert not errors, errors


def store(paths, data: pathlib.Path, *, full: bool = False) -> None:
  """Writes each ``.py`` source's ``.ipynb`` with the outputs of a small run (``full``: a run
  with the default settings, and the first markdown cell of both files says so), without what
  went to stderr (progress bars and warnings)."""
  notes = (STORED_NOTE, FULL_NOTE) if full else (FULL_NOTE, STORED_NOTE)
  for path in map(pathlib.Path, paths):
    source = path.with_suffix(".py")
    text = source.read_text()
    if notes[0] in text:  # the stored run changes kind: the source's note says which
      source.write_text(text.replace(notes[0], notes[1]))
    nb = jupytext.read(source)
    nb.metadata.setdefault("jupytext", {})["formats"] = FORMATS
    nb.metadata["jupytext"].pop("text_representation", None)
    with tempfile.TemporaryDirectory() as workdir:
      errors = execute(nb, data, pathlib.Path(workdir), small=not full)
    if errors:
      raise SystemExit(f"{path.name}: {errors[0].get('ename')}: {errors[0].get('evalue')}")
    for cell in nb.cells:
      if cell.cell_type == "code":
        cell.outputs = [o for o in cell.outputs if o.get("name") != "stderr"]
    nbformat.write(nb, path.with_suffix(".ipynb"))
    print(f"wrote {path.with_suffix('.ipynb')}")


def from_ipynb(path: pathlib.Path) -> pathlib.Path:
  """Writes the jupytext source of a notebook made some other way (a builder script): its
  first code cell becomes ``INSTALL_CELL`` and its first markdown cell gets ``STORED_NOTE``."""
  nb = nbformat.read(path, as_version=4)
  code = next(c for c in nb.cells if c.cell_type == "code")
  if "install" in code.source:
    code.source = INSTALL_CELL
  else:
    nb.cells.insert(nb.cells.index(code), nbformat.v4.new_code_cell(INSTALL_CELL))
  markdown = next(c for c in nb.cells if c.cell_type == "markdown")
  if STORED_NOTE not in markdown.source:
    markdown.source = f"{markdown.source.rstrip()}\n\n{STORED_NOTE}"
  nb.metadata["jupytext"] = {"formats": FORMATS}
  jupytext.write(nb, path.with_suffix(".py"), fmt="py:percent")
  print(f"wrote {path.with_suffix('.py')}")
  return path.with_suffix(".py")


if __name__ == "__main__":
  shared = REPO_ROOT.parent / "shared" / "data"
  args = sys.argv[1:]
  full = "--full" in args  # store the outputs of a run with the default settings
  args = [a for a in args if a != "--full"]
  if args and args[0] == "--from-ipynb":
    args = [from_ipynb(pathlib.Path(a)) for a in args[1:]]
  store(args, pathlib.Path(os.environ.get("FIRA_JAX_DATA_DIR", shared)), full=full)
