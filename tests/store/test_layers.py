"""``store`` is below ``billing``: billing writes through the store, and nothing in the store
imports billing back (the cycle made either package impossible to load or test alone)."""

from __future__ import annotations

import ast
from pathlib import Path

import airelay.store

STORE = Path(airelay.store.__file__).parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_store_imports_nothing_from_billing() -> None:
    offenders = {
        str(path.relative_to(STORE)): sorted(
            name for name in imported_modules(path) if name.startswith("airelay.billing")
        )
        for path in STORE.rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}
