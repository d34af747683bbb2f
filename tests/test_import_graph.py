"""The package's layering, computed from the source: no import cycles (imports inside functions count),
core/ never imports the Blender glue, and product code never imports tests/ or tools/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("core", "parascale_blender")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def product_modules() -> dict[str, Path]:
    modules = {module_name(path): path for folder in PRODUCT for path in (ROOT / folder).rglob("*.py")}
    modules[""] = ROOT / "__init__.py"
    return modules


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """Every module of the package that `path` imports, anywhere in the file (top level or inside a
    function): `from .x import y` is an edge to x.y when x.y is a module, else to x."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
                if not base.startswith("parascale"):
                    continue
                base = base.removeprefix("parascale").lstrip(".")
            else:
                anchor = package.split(".") if package else []
                anchor = anchor[:len(anchor) - (node.level - 1)] if node.level > 1 else anchor
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                child = f"{base}.{alias.name}" if base else alias.name
                found.add(child if child in known else base)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("parascale"):
                    found.add(alias.name.removeprefix("parascale").lstrip("."))
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = product_modules()
    return {name: imported_modules(name, path, set(modules)) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_the_graph_is_read_from_the_source():
    graph = import_graph()
    assert "core.formats.common" in graph["core.formats"]
    assert "core.errors" in graph["core.formats.common"]
    # An import inside a function counts: the reference depth builds the tracking probe lazily.
    assert "parascale_blender.tracking" in graph["parascale_blender.depth_sources"]
    assert "core.poses" in graph["parascale_blender.scene_reading"]


def test_cycle_finder_finds_a_cycle_through_a_function_level_import():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    assert cycles(import_graph()) == []


@pytest.mark.parametrize("name", sorted(n for n in product_modules() if n.startswith("core")))
def test_core_never_imports_the_blender_glue(name):
    graph = import_graph()
    assert not [m for m in graph[name] if m.startswith("parascale_blender")]


def test_product_code_never_imports_tests_or_tools():
    for name, path in product_modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                       else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for module in modules:
                parts = module.split(".")
                assert "tests" not in parts and "tools" not in parts, f"{name} imports {module}"
