"""Sphinx configuration of the fira-jax API reference.

Build: ``pip install -e ".[docs]" && sphinx-build -W docs docs/_build/html``.

At each build, before Sphinx reads the sources, this file writes ``docs/_gen/`` (ignored by git):

- ``api/<package>.md``: one page per package, from the ``__all__`` of the package and of each
  public submodule (an autosummary table, then autodoc of each name, documented once, where it
  is first exported);
- ``commands/``: one page per ``fira-jax`` command, the help text of its parser, read from
  :mod:`fira_jax.lab.cli` (so a new command gets its page without editing the docs);
- ``notebooks/``: the notebooks of ``notebooks/``, rendered by myst-nb from their stored outputs
  (nothing is executed);
- ``results/``: the results tables of ``benchmarks/results/<package>/*.md`` and their figures.
"""

import argparse
import importlib
import inspect
import os
import pathlib
import pkgutil
import shutil
import sys

DOCS = pathlib.Path(__file__).resolve().parent
ROOT = DOCS.parent
GEN = DOCS / "_gen"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("COLUMNS", "100")  # argparse help width

import fira_jax  # noqa: E402

project = "fira-jax"
author = "fira-jax authors"
copyright = "fira-jax authors"  # noqa: A001
release = fira_jax.__version__
version = ".".join(release.split(".")[:2])

extensions = [
  "sphinx.ext.autodoc",
  "sphinx.ext.autosummary",
  "sphinx.ext.napoleon",
  "sphinx.ext.mathjax",
  "myst_nb",  # also loads myst_parser for the Markdown pages
]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "README.md"]
html_theme = "furo"
html_title = f"fira-jax {release}"

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"show-inheritance": False}
autosummary_generate = False
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True  # `Attributes:` as fields: the members are documented by autodoc

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
nb_execution_mode = "off"  # notebooks are rendered from their stored outputs
nb_merge_streams = True
suppress_warnings = ["myst.header"]  # the Markdown docs start their sections at `##`

# Packages documented, in the order of the index; a package that does not exist is left out.
PACKAGES = ["fira_jax", "graphs", "distill", "hypernet", "avprobe"]
SKIP_MODULES = {"cli", "commands", "cli_export", "__main__"}  # command modules: see commands/


def _public_modules(package: str) -> list[str]:
  """``package`` and its public submodules (no ``_`` in any part), parents first."""
  pkg = importlib.import_module(package)
  names = [package]
  for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}."):
    parts = info.name.split(".")[1:]
    if any(p.startswith("_") or p in SKIP_MODULES for p in parts):
      continue
    names.append(info.name)
  return sorted(names, key=lambda n: (n.count("."), n))


def _is_data(obj) -> bool:
  return not (inspect.isclass(obj) or callable(obj))


def _api_page(package: str, seen: set[int]) -> str:
  """The page of ``package``: each public module's docstring, then its names not yet seen."""
  lines = [f"# `{package}`", ""]
  for name in _public_modules(package):
    mod = importlib.import_module(name)
    fresh = []
    for n in getattr(mod, "__all__", []):
      obj = getattr(mod, n, None)
      if obj is None or inspect.ismodule(obj) or id(obj) in seen:
        continue
      seen.add(id(obj))
      fresh.append(n)
    if name != package and not fresh:
      continue
    if name != package:
      lines += [f"## `{name}`", ""]
    lines += ["```{eval-rst}", f".. automodule:: {name}", ""]
    code = [n for n in fresh if not _is_data(getattr(mod, n))]
    if code:
      lines += [".. autosummary::", ""] + [f"   {n}" for n in code] + [""]
    for n in fresh:
      obj = getattr(mod, n)
      if inspect.isclass(obj):
        lines += [f".. autoclass:: {n}", "   :members:", ""]
      elif callable(obj):
        lines += [f".. autofunction:: {n}", ""]
      else:  # a table (dict, tuple): its type's docstring is not its own
        lines += [f".. py:data:: {n}", f"   :type: {type(obj).__name__}", ""]
    lines += ["```", ""]
  return "\n".join(lines)


def _write_api() -> list[str]:
  (GEN / "api").mkdir(parents=True)
  seen: set[int] = set()
  written = []
  for package in PACKAGES:
    try:
      importlib.import_module(package)
    except ImportError:
      continue
    (GEN / "api" / f"{package}.md").write_text(_api_page(package, seen))
    written.append(package)
  return written


def _subcommands(parser: argparse.ArgumentParser):
  for action in parser._actions:  # argparse has no public accessor for its subparsers
    if isinstance(action, argparse._SubParsersAction):
      helps = {a.dest: a.help for a in action._choices_actions}
      for name, sub in action.choices.items():
        yield name, helps.get(name, ""), sub


def _write_commands() -> None:
  from fira_jax.lab import cli

  folder = GEN / "commands"
  folder.mkdir(parents=True)
  parser = cli.build_parser()
  index = [
    "# The `fira-jax` command tree",
    "",
    "Every command, with its help text (`fira-jax <command> --help`), generated from",
    "{mod}`fira_jax.lab.cli` when these pages are built.",
    "",
    "| command | what |",
    "|---|---|",
  ]
  pages = []

  def page(words: list[str], help_text: str, sub: argparse.ArgumentParser) -> None:
    slug = "-".join(words)
    body = [f"# `fira-jax {' '.join(words)}`", "", help_text or "", "", "```text"]
    body += [sub.format_help().rstrip(), "```", ""]
    (folder / f"{slug}.md").write_text("\n".join(body))
    index.append(f"| [`fira-jax {' '.join(words)}`]({slug}.md) | {help_text or ''} |")
    pages.append(slug)

  for name, help_text, sub in _subcommands(parser):
    if name in cli.DEPRECATED:
      continue
    page([name], help_text, sub)
    for sub_name, sub_help, subsub in _subcommands(sub):
      page([name, sub_name], sub_help, subsub)
  deprecated = ", ".join(
    f"`fira-jax {old}` → `fira-jax {g} {n}`" for old, (g, n) in cli.DEPRECATED.items()
  )
  index += ["", f"Deprecated aliases: {deprecated}.", "", "```{toctree}", ":hidden:", ""]
  index += pages + ["```", ""]
  (folder / "index.md").write_text("\n".join(index))


def _index_page(folder: pathlib.Path, title: str, intro: list[str], pages: list[str]) -> None:
  toctree = ["```{toctree}", ":maxdepth: 2", "", *pages, "```", ""]
  (folder / "index.md").write_text("\n".join([f"# {title}", "", *intro, "", *toctree]))


def _write_notebooks() -> None:
  folder = GEN / "notebooks"
  folder.mkdir(parents=True)
  names = []
  for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
    shutil.copy(nb, folder / nb.name)
    names.append(nb.stem)
  intro = [
    "Rendered from the outputs stored in `notebooks/*.ipynb`; each notebook's source is the",
    "jupytext script `notebooks/<name>.py` next to it. The first cell installs fira-jax when",
    "it is missing: the checkout the notebook sits in (editable), else the `fira-jax`",
    "distribution by name, or what the environment variable `FIRA_JAX_PIP_SPEC` names",
    '(pip arguments, e.g. `FIRA_JAX_PIP_SPEC="-e /path/to/checkout[notebooks]"`).',
  ]
  _index_page(folder, "Notebooks", intro, names)


def _write_results() -> None:
  folder = GEN / "results"
  folder.mkdir(parents=True)
  pages = []
  for md in sorted((ROOT / "benchmarks" / "results").glob("*/*.md")):
    target = folder / md.parent.name
    target.mkdir(exist_ok=True)
    shutil.copy(md, target / md.name)
    pages.append(f"{md.parent.name}/{md.stem}")
  for png in sorted((ROOT / "benchmarks" / "results").glob("*/*.png")):
    shutil.copy(png, folder / png.parent.name / png.name)
  intro = [
    "The results tables of `benchmarks/results/<package>/`, each made from the runs file",
    "next to it (`<name>_runs.jsonl`, one JSON line per run).",
  ]
  _index_page(folder, "Results", intro, pages)


def _link_generated_pages(app, docname, source) -> None:
  """The Markdown docs link results tables and notebooks by their path in the repository (as
  on GitHub); here those pages live under ``_gen/``."""
  if "/" not in docname:
    source[0] = source[0].replace("](../benchmarks/results/", "](_gen/results/")
    source[0] = source[0].replace("](../notebooks/", "](_gen/notebooks/")


def setup(app):
  app.connect("source-read", _link_generated_pages)


shutil.rmtree(GEN, ignore_errors=True)
_index_page(GEN / "api", "API reference", [], _write_api())
_write_commands()
_write_notebooks()
_write_results()
