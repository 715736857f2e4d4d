"""The package's layers import downwards only, without cycles, and files stay small.

The order is the pipeline: base modules (errors, configs, progress) under io, then data, models,
inference, export (bioimage.io packages), evaluation, train, pseudo-masks, batch, workflows, the
command line and napari on top.
The test reads the source with :mod:`ast`, so it sees lazy imports inside functions too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "napari_selfsup_seg"
ROOT = Path(__file__).resolve().parents[1] / "src" / PACKAGE
LAYERS = [
    "io",
    "data",
    "models",
    "inference",
    "export",
    "evaluation",
    "train",
    "pseudo",
    "batch",
    "workflows",
    "cli",
    "_napari",
]
BASE = {"_errors", "_config", "_progress", "__init__"}
MAX_LINES = 330


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Modules of this package imported anywhere in ``path`` (relative to the package)."""
    name = _module_name(path)
    here = name.split(".") if name else []
    if path.name != "__init__.py":
        here = here[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                target = ".".join(base + (node.module.split(".") if node.module else []))
            elif node.module and node.module.split(".")[0] == PACKAGE:
                target = node.module.partition(".")[2]
            else:
                continue
            for alias in node.names:  # `from . import x` imports module x
                sub = f"{target}.{alias.name}" if target else alias.name
                found.add(sub if _exists(sub) else target)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    found.add(alias.name.partition(".")[2])
    return {m for m in found if m}


def _exists(module: str) -> bool:
    path = ROOT.joinpath(*module.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _layer(module: str) -> int:
    top = module.split(".")[0]
    if top in BASE or top == "api":
        return -1 if top != "api" else len(LAYERS)
    return LAYERS.index(top)


SOURCES = sorted(ROOT.rglob("*.py"))


def test_every_module_belongs_to_a_layer():
    for path in SOURCES:
        name = _module_name(path)
        top = name.split(".")[0] if name else "__init__"
        assert top in BASE or top in LAYERS or top == "api", f"{name} is outside the layers"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: _module_name(p) or "__init__")
def test_imports_go_downwards(path):
    name = _module_name(path)
    if not name or name == "api":
        return  # the package root and the public API may name anything
    own = _layer(name)
    for target in _imports(path):
        assert _layer(target) <= own, f"{name} imports {target}, a layer above it"
        if own == -1:
            assert _layer(target) == -1, f"base module {name} imports {target}"


def test_no_import_cycles():
    graph = {_module_name(p): _imports(p) - {"", _module_name(p)} for p in SOURCES}
    graph = {k: {t for t in v if t in graph} for k, v in graph.items() if k}
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt] if nxt in stack else [node, nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])


def test_files_stay_small():
    big = {
        _module_name(p): n for p in SOURCES if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not big, f"modules above {MAX_LINES} lines: {big}"
