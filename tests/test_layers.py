"""The layering ARCHITECTURE.md promises, read from the source: who may import whom (that the
relay names no format nor endpoint is ``tests/relay/test_layering.py``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import airelay

PACKAGE = Path(airelay.__file__).parent


def _trees(layer: str) -> list[tuple[str, ast.AST]]:
    root = PACKAGE / layer
    return [
        (str(path.relative_to(PACKAGE)), ast.parse(path.read_text(), filename=str(path)))
        for path in sorted(root.rglob("*.py"))
    ]


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


@pytest.mark.parametrize(
    ("layer", "allowed"),
    [
        ("formats", ("airelay.formats",)),
        ("providers", ("airelay.formats", "airelay.providers")),
    ],
)
def test_a_layer_imports_only_what_is_below_it(layer: str, allowed: tuple[str, ...]) -> None:
    offenders = {
        path: sorted(
            name
            for name in _imports(tree)
            if name.startswith("airelay") and not name.startswith(allowed)
        )
        for path, tree in _trees(layer)
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_store_reaches_up_to_no_layer_above_it() -> None:
    above = ("airelay.billing", "airelay.relay", "airelay.surfaces")
    offenders = {
        path: sorted(name for name in _imports(tree) if name.startswith(above))
        for path, tree in _trees("store")
    }
    assert {path: names for path, names in offenders.items() if names} == {}
