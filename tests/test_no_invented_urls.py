"""No tracked file names an address the project does not have.

The project has no repository, documentation site or package index page of its own that could
be linked: install instructions name the distribution (``fira-jax``) or a local path, and
notebooks read ``FIRA_JAX_PIP_SPEC`` for anything else.
"""

import pathlib
import re
import subprocess

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
# Addresses that would be the project's own (written split so this file does not match).
INVENTED = re.compile(
  "|".join(
    [
      r"github\.com/" + "fira[-_]jax",
      r"fira[-_]jax" + r"\.(github\.io|readthedocs\.(io|org))",
      r"gitlab\.com/" + "fira[-_]jax",
      r"git\+https?://\S*" + "fira",
    ]
  ),
  re.IGNORECASE,
)


def _tracked_files() -> list[pathlib.Path]:
  try:
    out = subprocess.run(
      ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True
    ).stdout
    return [REPO_ROOT / name for name in out.decode().split("\0") if name]
  except (OSError, subprocess.CalledProcessError):  # not a git checkout (an sdist)
    skip = {".git", ".venv", ".venv-ci", "build", "dist", "__pycache__"}
    return [p for p in REPO_ROOT.rglob("*") if p.is_file() and not skip & set(p.parts)]


def test_no_invented_addresses():
  hits = []
  for path in _tracked_files():
    if not path.is_file():
      continue
    try:
      text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
      continue
    for n, line in enumerate(text.splitlines(), 1):
      if INVENTED.search(line):
        hits.append(f"{path.relative_to(REPO_ROOT)}:{n}: {line.strip()[:120]}")
  assert not hits, "\n".join(hits)
