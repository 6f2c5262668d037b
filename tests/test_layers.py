"""The layers stay apart: the library never imports Home Assistant, HACS ships no lab.

``eo_node`` runs on a Pi with the project's package alone: it imports the
library and nothing of Home Assistant, the integration or the lab.

``custom_components/energy_orchestrator/lib`` (drivers, control) must run
where Home Assistant is not installed (the ``eo`` lab, a remote node), and
the integration must ship only what Home Assistant runs.
"""

import ast
from pathlib import Path
import subprocess
import sys

ROOT = Path(__file__).parent.parent
INTEGRATION = ROOT / "custom_components" / "energy_orchestrator"
LIBRARY = INTEGRATION / "lib"
LAB = ROOT / "eo_lab"
NODE = ROOT / "eo_node"


def _module_name(path: Path) -> str:
    """Return the dotted module name of a source file under ROOT."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Return the absolute names of every module a source file imports."""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
    return names


def test_library_imports_neither_home_assistant_nor_the_rest_of_the_integration() -> (
    None
):
    """Every import under lib/ stays in lib/ or goes outside the project."""
    library = _module_name(LIBRARY / "__init__.py")
    offending = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in LIBRARY.rglob("*.py")
        for name in _imports(path)
        if name.split(".")[0] in {"homeassistant", "eo_lab"}
        or (name.startswith("custom_components") and not name.startswith(library))
    }
    assert not offending


def test_integration_ships_no_lab() -> None:
    """Nothing Home Assistant loads imports the lab, and no lab file hides in it."""
    offending = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in INTEGRATION.rglob("*.py")
        for name in _imports(path)
        if name.split(".")[0] == "eo_lab"
    }
    assert not offending
    shipped = {path.stem for path in INTEGRATION.rglob("*.py")}
    assert not shipped & {"cli", "backtest", "benchmarks", "soc_trace", "servers"}
    assert not list(INTEGRATION.rglob("*.csv")) or all(
        "lib/drivers" in str(path) for path in INTEGRATION.rglob("*.csv")
    )


def test_lab_and_library_load_without_home_assistant() -> None:
    """Importing every lab and library module leaves Home Assistant unimported."""
    modules = sorted(
        _module_name(path)
        for folder in (LAB, LIBRARY)
        for path in folder.rglob("*.py")
        if path.name != "__main__.py"
    )
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'homeassistant'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.stdout.strip() == "[]"
    assert len(modules) > 50


def test_home_assistant_finds_its_hooks_at_import() -> None:
    """Where Home Assistant runs, its hooks are loaded with the package itself.

    Home Assistant imports an integration in its import executor; hooks
    imported later, on first use, would be a blocking import in the event loop.
    """
    code = (
        "import homeassistant.loader, sys\n"
        "import custom_components.energy_orchestrator as package\n"
        "print(sorted(name for name in vars(package) if name.startswith('async_')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.stdout.split() == [
        "['async_migrate_entry',",
        "'async_remove_config_entry_device',",
        "'async_remove_entry',",
        "'async_setup',",
        "'async_setup_entry',",
        "'async_unload_entry']",
    ]


def test_node_imports_only_the_library() -> None:
    """eo_node's own imports reach lib/ and outside the project, nothing else."""
    library = _module_name(LIBRARY / "__init__.py")
    offending = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in NODE.rglob("*.py")
        for name in _imports(path)
        if name.split(".")[0] in {"homeassistant", "eo_lab"}
        or (name.startswith("custom_components") and not name.startswith(library))
    }
    assert not offending


def test_node_runs_without_home_assistant() -> None:
    """``eo node``'s whole import graph, the CLI included, leaves HA unimported.

    The node is started through ``eo node`` (eo_lab/cli.py), so the CLI's
    own imports count too; Home Assistant is made unimportable, as on a Pi.
    """
    modules = sorted(_module_name(path) for path in NODE.rglob("*.py"))
    code = (
        "import importlib, sys\n"
        "class Fence:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'homeassistant':\n"
        "            raise ImportError('homeassistant is not on a node')\n"
        "sys.meta_path.insert(0, Fence())\n"
        f"for name in {[*modules, 'eo_lab.cli']!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'homeassistant'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.stdout.strip() == "[]"
    assert "eo_node.node" in modules
