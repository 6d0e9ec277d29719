"""The import rules of the layout: the harness imports no method package, method packages do
not import each other (distill may borrow ``fira_jax.models``), the optimizer transforms never
load the harness, benchmarks use public APIs only, and module-level imports have no cycle."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
METHOD_PACKAGES = ("graphs", "distill", "hypernet", "avprobe")
OURS = ("fira_jax", *METHOD_PACKAGES)


def _module_name(path: pathlib.Path) -> str:
  parts = list(path.relative_to(ROOT).with_suffix("").parts)
  if parts[-1] == "__init__":
    parts = parts[:-1]
  return ".".join(parts)


def _imports(path: pathlib.Path, *, top_level_only: bool = False) -> list[tuple[str, list[str]]]:
  """``(module, names)`` of each import in ``path`` (relative imports resolved)."""
  tree = ast.parse(path.read_text(encoding="utf-8"))
  me = _module_name(path)
  package = me if path.name == "__init__.py" else me.rpartition(".")[0]
  nodes = tree.body if top_level_only else list(ast.walk(tree))
  out = []
  for node in nodes:
    if isinstance(node, ast.Import):
      out += [(a.name, []) for a in node.names]
    elif isinstance(node, ast.ImportFrom):
      module = node.module or ""
      if node.level:
        base = package.split(".")
        base = base[: len(base) - node.level + 1]
        module = ".".join([*base, module] if module else base)
      out.append((module, [a.name for a in node.names]))
  return out


def _files(*roots: str) -> list[pathlib.Path]:
  return [p for r in roots if (ROOT / r).exists() for p in sorted((ROOT / r).rglob("*.py"))]


def _top(module: str) -> str:
  return module.split(".")[0]


def test_the_harness_imports_no_method_package():
  bad = []
  for path in _files("fira_jax/lab"):
    for module, _ in _imports(path):
      if _top(module) in OURS and not module.startswith("fira_jax.lab"):
        bad.append(f"{path.relative_to(ROOT)}: {module}")
  assert not bad, "fira_jax.lab must import only itself and third-party code:\n" + "\n".join(bad)


def test_the_optimizer_transforms_never_load_the_harness():
  bad = [
    f"{p.relative_to(ROOT)}: {m}"
    for p in [*_files("fira_jax/_src"), ROOT / "fira_jax" / "__init__.py"]
    for m, _ in _imports(p)
    if m.startswith("fira_jax.lab")
  ]
  assert not bad, bad
  code = "import sys, fira_jax; print(any(m.startswith('fira_jax.lab') for m in sys.modules))"
  out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
  assert out.stdout.strip() == "False", out.stderr


def test_method_packages_do_not_import_each_other():
  allowed = {
    "graphs": {"fira_jax.lab"},
    "distill": {"fira_jax.lab", "fira_jax.models"},
    "hypernet": {"fira_jax.lab"},
    "avprobe": {"fira_jax.lab"},
    "fira_jax": {"fira_jax"},
  }
  bad = []
  for pkg in OURS:
    for path in _files(pkg):
      if pkg == "fira_jax" and "lab" in path.relative_to(ROOT).parts:
        continue  # the harness loads command tables by name only (checked above)
      for module, _ in _imports(path):
        top = _top(module)
        if top not in OURS or top == pkg and pkg != "fira_jax":
          continue
        if not any(module == a or module.startswith(a + ".") for a in allowed[pkg]):
          bad.append(f"{path.relative_to(ROOT)}: {module}")
  assert not bad, "cross-package imports:\n" + "\n".join(bad)


def test_benchmarks_import_public_apis_only():
  bad = []
  for path in _files("benchmarks"):
    for module, names in _imports(path):
      if _top(module) not in OURS:
        continue
      private_module = any(part.startswith("_") for part in module.split("."))
      private_names = [n for n in names if n.startswith("_")]
      if private_module or private_names:
        bad.append(f"{path.relative_to(ROOT)}: {module} {private_names or ''}")
  assert not bad, "benchmarks must use public APIs:\n" + "\n".join(bad)


def test_no_import_cycles_at_module_level():
  files = _files(*OURS)
  modules = {_module_name(p): p for p in files}
  graph: dict[str, set[str]] = {}
  for name, path in modules.items():
    deps = set()
    for module, names in _imports(path, top_level_only=True):
      subs = {f"{module}.{n}" for n in names} & modules.keys()
      deps |= subs
      if module in modules and (not names or len(subs) < len(names)):
        deps.add(module)  # `from pkg import submodule` alone does not run pkg's names
    graph[name] = deps - {name}
  # A package's __init__ importing its own submodules, which import sibling submodules, is the
  # normal re-export pattern; a submodule importing its *package* back is what closes a cycle.
  state: dict[str, int] = {}
  stack: list[str] = []
  cycles = []

  def visit(node):
    state[node] = 1
    stack.append(node)
    for dep in sorted(graph.get(node, ())):
      if state.get(dep) == 1:
        cycles.append(stack[stack.index(dep) :] + [dep])
      elif dep not in state:
        visit(dep)
    stack.pop()
    state[node] = 2

  for node in sorted(graph):
    if node not in state:
      visit(node)
  assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)
