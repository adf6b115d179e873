"""The package's structure: an import graph without circles, layers that import
downwards only, and the generated tables of docs/reference.md equal to the code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from lit_seqsal.salience import methods
from tests.helpers import REPO

PACKAGE = REPO / "lit_seqsal"


def _module_name(path: Path) -> str:
  parts = list(path.relative_to(REPO).with_suffix("").parts)
  if parts[-1] == "__init__":
    parts = parts[:-1]
  return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
  """Every lit_seqsal module and the lit_seqsal modules it imports (anywhere in it,
  function-level imports included)."""
  modules = {_module_name(p): p for p in PACKAGE.rglob("*.py") if "node_modules" not in p.parts}
  graph: dict[str, set[str]] = {}
  for name, path in modules.items():
    deps = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
      if isinstance(node, ast.Import):
        targets = [a.name for a in node.names]
      elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
          base = ".".join(
            package.split(".")[: len(package.split(".")) - node.level + 1]
            + ([base] if base else [])
          )
        # `from pkg import mod` imports the submodule when there is one.
        targets = [
          f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names
        ]
      else:
        continue
      deps |= {t for t in targets if t in modules and t != name}
    graph[name] = deps
  return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
  state: dict[str, int] = {}
  stack: list[str] = []

  def visit(node):
    state[node] = 1
    stack.append(node)
    for dep in sorted(graph[node]):
      if state.get(dep) == 1:
        return stack[stack.index(dep) :] + [dep]
      if dep not in state and (cycle := visit(dep)):
        return cycle
    stack.pop()
    state[node] = 2
    return None

  for node in sorted(graph):
    if node not in state and (cycle := visit(node)):
      return cycle
  return None


def test_import_graph_has_no_circle():
  graph = import_graph()
  assert "lit_seqsal.engine.base" in graph and graph["lit_seqsal.models.lit_models"]
  assert _find_cycle(graph) is None, " -> ".join(_find_cycle(graph))


def test_cycle_finder_finds_a_circle():
  assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
  assert _find_cycle({"a": {"b"}, "b": set()}) is None


# The package's layers, bottom first: a module may import its own layer and the
# layers below it, never one above. Every module belongs to exactly one.
LAYERS = (
  (
    "vocabulary",
    (
      "lit_seqsal.contract",
      "lit_seqsal.errors",
      "lit_seqsal.tokens",
      "lit_seqsal.inputs",
      "lit_seqsal.edits",
      "lit_seqsal.options",
      "lit_seqsal.chat",
      "lit_seqsal.datasets",
      "lit_seqsal.console",
      "lit_seqsal.cli",
    ),
  ),
  ("work sharing", ("lit_seqsal.work",)),
  ("engine", ("lit_seqsal.engine",)),
  ("salience methods", ("lit_seqsal.salience",)),
  ("models", ("lit_seqsal.models",)),
  ("LIT interpreters", ("lit_seqsal.components",)),
  ("batch runs", ("lit_seqsal.batch",)),
  ("serving", ("lit_seqsal.serving",)),
  ("entry points", ("lit_seqsal.notebook", "lit_seqsal.attribute", "lit_seqsal.demos")),
)


def layer_of(module: str) -> int:
  for i, (_, prefixes) in enumerate(LAYERS):
    if any(module == p or module.startswith(p + ".") for p in prefixes):
      return i
  raise AssertionError(f"{module} belongs to no layer: add it to LAYERS in {__file__}")


def test_layers_import_downwards_only():
  """The vocabulary knows nothing of engines; engine and salience math know
  nothing of LIT's models, interpreters or servers; models know nothing of the
  interpreters, batch runs or servers; batch runs nothing of the servers."""
  graph = import_graph()
  assert {layer_of(m) for m in graph if m != "lit_seqsal"} == set(range(len(LAYERS)))
  for module, deps in graph.items():
    if module == "lit_seqsal":
      continue
    for dep in deps:
      assert layer_of(dep) <= layer_of(module), (
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {dep}"
        f" ({LAYERS[layer_of(dep)][0]}), a layer above it"
      )
  assert not graph["lit_seqsal.contract"], "the contract imports nothing of the package"


def test_layer_check_catches_an_upward_import():
  with pytest.raises(AssertionError, match="belongs to no layer"):
    layer_of("lit_seqsal.somewhere_new")
  assert layer_of("lit_seqsal.engine.base") < layer_of("lit_seqsal.serving.app")


def test_reference_method_table_is_the_registry():
  reference = (REPO / "docs" / "reference.md").read_text(encoding="utf-8")
  assert methods.markdown_table() in reference, (
    "docs/reference.md's method table is out of date; paste the output of"
    " `python -c 'from lit_seqsal.salience import methods; print(methods.markdown_table())'`"
  )


def test_reference_limits_table_is_the_limits():
  from lit_seqsal.work import limits

  reference = (REPO / "docs" / "reference.md").read_text(encoding="utf-8")
  assert limits.markdown_table() in reference, (
    "docs/reference.md's hosted limits table is out of date"
  )


def test_reference_model_flags_are_the_options():
  from lit_seqsal import options

  reference = (REPO / "docs" / "reference.md").read_text(encoding="utf-8")
  assert options.markdown_table() in reference, (
    "docs/reference.md's model flags table is out of date"
  )
