"""No module imports itself back: the integration and the lab have no import cycles.

A cycle makes a module half-built when the other one runs, and says two
modules are one idea cut in the wrong place. The check is static: every
``import`` and ``from ... import`` at module level (under ``if
TYPE_CHECKING:`` too, where cycles hide), relative ones resolved; imports
inside a function are not counted, as they run only when it is called.
A name from a module is an edge to that module, a submodule imported from
its package an edge to the submodule.
"""

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).parent.parent
PACKAGES = (ROOT / "custom_components" / "energy_orchestrator", ROOT / "eo_lab")


def _modules(root: Path, packages: tuple[Path, ...]) -> dict[str, Path]:
    """Return every source file under the packages, by dotted module name."""
    modules: dict[str, Path] = {}
    for package in packages:
        for path in package.rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _module_level_imports(
    tree: ast.AST,
) -> Iterator[ast.Import | ast.ImportFrom]:
    """Yield the import statements that run when the module is imported."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from _module_level_imports(node)


def _import_graph(modules: Mapping[str, Path]) -> dict[str, set[str]]:
    """Return, for each module, the modules of the project it imports."""

    def known(name: str) -> str | None:
        """Return the module a dotted name lies in, if it is one of ours."""
        while name not in modules:
            if "." not in name:
                return None
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str | None] = set()
        for node in _module_level_imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(known(alias.name) for alias in node.names)
                continue
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            source = ".".join(
                [*(base if node.level else []), *([node.module] if node.module else [])]
            )
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                targets.add(submodule if submodule in modules else known(source))
        graph[name] = {target for target in targets if target and target != name}
    return graph


def _strongly_connected(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Return the groups of modules that reach each other (Tarjan)."""
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = lowest[module] = len(index)
        stack.append(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                lowest[module] = min(lowest[module], lowest[target])
            elif target in stack:
                lowest[module] = min(lowest[module], index[target])
        if lowest[module] == index[module]:
            group: list[str] = []
            while not group or group[-1] != module:
                group.append(stack.pop())
            groups.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return groups


def _shortest_cycle(graph: Mapping[str, set[str]], start: str) -> list[str]:
    """Return the shortest path of imports from a module back to itself."""
    paths = {start: [start]}
    queue = [start]
    for module in queue:
        for target in sorted(graph[module]):
            if target == start:
                return [*paths[module], start]
            if target not in paths:
                paths[target] = [*paths[module], target]
                queue.append(target)
    raise AssertionError(f"{start} is in no cycle")


def import_cycles(root: Path, packages: tuple[Path, ...]) -> list[str]:
    """Return each import cycle as ``a -> b -> a``, with the group it ties."""
    graph = _import_graph(_modules(root, packages))
    cycles = []
    for group in _strongly_connected(graph):
        if len(group) < 2:
            continue
        cycle = " -> ".join(_shortest_cycle(graph, group[0]))
        if len(group) > 2:
            cycle += f" (tying {', '.join(group)})"
        cycles.append(cycle)
    return cycles


def test_no_import_cycles() -> None:
    """No module of the integration or the lab imports itself back."""
    cycles = import_cycles(ROOT, PACKAGES)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_check_sees_relative_and_type_checking_imports(tmp_path: Path) -> None:
    """A cycle through a relative import under TYPE_CHECKING is found and named."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from .a import A\n")
    (package / "a.py").write_text("from .sub import b\nA = 1\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..c import C\n"
    )
    (package / "c.py").write_text(
        "def later():\n    from pkg.a import A\n\nimport pkg.a as cycle\n"
    )
    assert import_cycles(tmp_path, (package,)) == [
        "pkg.a -> pkg.sub.b -> pkg.c -> pkg.a (tying pkg.a, pkg.c, pkg.sub.b)"
    ]
    (package / "c.py").write_text("def later():\n    from pkg.a import A\n")
    assert import_cycles(tmp_path, (package,)) == []
