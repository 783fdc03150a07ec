"""The package's import graph: no cycles, and no torch under the live engine.

The graph is read from the source with ``ast`` (nothing is imported): every ``import`` and
``from ... import`` of an ``unsing`` module, at module level or inside a function (a lazy import
still runs, later), relative imports resolved, ``from unsing.x import y`` counted as an import of
``unsing.x.y`` when ``y`` is a submodule. Imports under ``if TYPE_CHECKING:`` never run and are
left out.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "unsing"
#: Third-party modules the live engine must never load.
FORBIDDEN_IN_REALTIME = ("torch",)


def package_dirs() -> dict[str, Path]:
    """Each package of the distribution and its folder (``[tool.setuptools.package-dir]``)."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    mapping = pyproject["tool"]["setuptools"].get("package-dir", {PACKAGE: PACKAGE})
    return {name: ROOT / folder for name, folder in mapping.items()}


def find_modules() -> dict[str, Path]:
    """Every module of the package, by dotted name: the ``.py`` files of each mapped folder and
    of its subfolders that are packages (hold an ``__init__.py``)."""
    modules: dict[str, Path] = {}
    for package, folder in package_dirs().items():
        for path in sorted(folder.rglob("*.py")):
            relative = path.relative_to(folder)
            parents = [folder.joinpath(*relative.parts[:i]) for i in range(len(relative.parts))]
            if not all((parent / "__init__.py").is_file() for parent in parents):
                continue  # a script folder, not a package
            parts = relative.with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join((package, *parts))] = path
    return modules


def _runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements of ``tree`` at any depth, except under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """``name`` or its longest prefix that is a module of the package."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> tuple[set[str], set[str]]:
    """The package modules and the top-level third-party names ``module`` imports."""
    inside: set[str] = set()
    outside: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        for target in targets:
            if target == PACKAGE or target.startswith(PACKAGE + "."):
                known = _known(target, modules)
                if known is not None and known != module:
                    inside.add(known)
            elif target:
                outside.add(target.split(".")[0])
    return inside, outside


def import_graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """``(edges, third_party)``: the package modules and the outside names each one imports."""
    modules = find_modules()
    edges: dict[str, set[str]] = {}
    third_party: dict[str, set[str]] = {}
    for module, path in modules.items():
        edges[module], third_party[module] = imports_of(module, path, modules)
    return edges, third_party


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(edges.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
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

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(components)


def with_parents(module: str) -> list[str]:
    """``module`` and the packages Python runs first to import it."""
    parts = module.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts) + 1)]


def import_path(start: str, edges: dict[str, set[str]], goal: set[str]) -> list[str] | None:
    """A shortest chain of imports from ``start`` to a module in ``goal`` (breadth first),
    importing a module also running its parent packages."""
    previous: dict[str, str | None] = {start: None}
    queue = [start]
    while queue:
        node = queue.pop(0)
        if node in goal:
            chain = [node]
            while previous[chain[-1]] is not None:
                chain.append(previous[chain[-1]])  # type: ignore[arg-type]
            return chain[::-1]
        for target in sorted(edges.get(node, ())):
            for successor in with_parents(target):
                if successor in edges and successor not in previous:
                    previous[successor] = node
                    queue.append(successor)
    return None


def test_the_graph_sees_the_whole_package() -> None:
    edges, third_party = import_graph()
    assert {"unsing.cli", "unsing.cli.options", "unsing.realtime.engine"} <= set(edges)
    assert "unsing.models.unet" in edges and "torch" in third_party["unsing.models.unet"]
    assert "unsing.cli.options" in edges["unsing.cli.engine"]  # from unsing.cli.options import


def test_relative_and_submodule_imports_resolve(tmp_path) -> None:
    package = tmp_path / "unsing"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from . import a\n")
    (package / "sub" / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import unsing.b\n"
        "def lazy():\n    from .. import b\n    from unsing.sub import a\n"
    )
    (package / "b.py").write_text("import unsing.sub.a as aa\nimport torch.nn\n")
    modules = {
        "unsing": package / "__init__.py",
        "unsing.b": package / "b.py",
        "unsing.sub": package / "sub" / "__init__.py",
        "unsing.sub.a": package / "sub" / "a.py",
    }
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}
    assert graph["unsing.sub"] == ({"unsing.sub.a"}, set())
    assert graph["unsing.sub.a"] == ({"unsing.b"}, {"typing"})  # itself is no edge
    assert graph["unsing.b"] == ({"unsing.sub.a"}, {"torch"})
    edges = {name: inside for name, (inside, _) in graph.items()}
    assert find_cycles(edges) == [["unsing.b", "unsing.sub.a"]]


def test_no_import_cycles() -> None:
    edges, _ = import_graph()
    cycles = find_cycles(edges)
    assert not cycles, (
        "import cycles (each line: modules that import each other in a circle):\n"
        + ("\n".join(" <-> ".join(cycle) for cycle in cycles))
    )


def test_the_live_engine_never_imports_torch() -> None:
    """Not directly, nor through any package module it imports, at load time or lazily."""
    edges, third_party = import_graph()
    offenders = {
        module
        for module, names in third_party.items()
        if any(name in FORBIDDEN_IN_REALTIME for name in names)
    }
    realtime = sorted(module for module in edges if module.startswith("unsing.realtime"))
    assert realtime
    chains = [chain for m in realtime if (chain := import_path(m, edges, offenders)) is not None]
    assert not chains, "the live engine reaches torch:\n" + "\n".join(
        " -> ".join(chain) + " -> torch" for chain in chains
    )
