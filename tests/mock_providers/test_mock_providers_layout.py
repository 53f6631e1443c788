"""The package's shape is its architecture: a shared core, one package per API flavour, the
assembly (app, server, CLI) on top. These tests read the sources (ast, nothing imported) and
hold the rules: no import cycle anywhere (TYPE_CHECKING imports included), the core imports
only the core, and flavour packages import the core, never each other or the assembly."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import mock_providers

ROOT = Path(mock_providers.__file__).parent
PACKAGE = "mock_providers"


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _imports(name: str) -> set[str]:
    """The package's own modules that module `name` imports."""
    tree = ast.parse(MODULES[name].read_text(), filename=str(MODULES[name]))
    base = name if _is_package(name) else name.rpartition(".")[0]
    edges: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base.split(".")[: len(base.split(".")) - node.level + 1]
                module = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            # `from pkg import sub` imports the submodule when there is one.
            subs = [f"{module}.{alias.name}" for alias in node.names]
            targets = [sub for sub in subs if sub in MODULES] or [module]
        else:
            continue
        edges.update(t for t in targets if t in MODULES and t != name)
    return edges


GRAPH = {name: _imports(name) for name in MODULES}
FLAVOUR_PACKAGES = sorted(
    name
    for name in MODULES
    if name.count(".") == 1 and _is_package(name) and name != f"{PACKAGE}.core"
)


def _top(name: str) -> str:
    return ".".join(name.split(".")[:2])


def test_the_walk_sees_the_layout() -> None:
    # Guards the test itself: if module discovery broke, the rules below would hold vacuously.
    assert {f"{PACKAGE}.openai", f"{PACKAGE}.anthropic"} <= set(FLAVOUR_PACKAGES)
    assert f"{PACKAGE}.core.engine" in GRAPH[f"{PACKAGE}.openai.routes"]
    assert f"{PACKAGE}.flavours" in GRAPH[f"{PACKAGE}.app"]


def test_imports_are_acyclic() -> None:
    try:
        tuple(TopologicalSorter(GRAPH).static_order())
    except CycleError as err:
        raise AssertionError(
            f"import cycle in mock_providers: {' -> '.join(err.args[1])}"
        ) from None


def test_core_imports_only_the_core() -> None:
    core = f"{PACKAGE}.core"
    bad = {
        name: sorted(t for t in targets if _top(t) != core)
        for name, targets in GRAPH.items()
        if _top(name) == core
    }
    assert not {name: targets for name, targets in bad.items() if targets}


def test_flavour_packages_import_the_core_and_never_each_other() -> None:
    allowed_outside = {f"{PACKAGE}.core"}
    bad: dict[str, list[str]] = {}
    for name, targets in GRAPH.items():
        own = _top(name)
        if own not in FLAVOUR_PACKAGES:
            continue
        wrong = sorted(t for t in targets if _top(t) not in allowed_outside | {own})
        if wrong:
            bad[name] = wrong
    assert not bad, f"flavour packages reach outside the core: {bad}"
