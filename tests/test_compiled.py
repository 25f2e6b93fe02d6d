"""The compiled build (setup.py): the modules pyproject.toml lists load as the extensions
mypyc made of their current sources, so that the suite tests the code that is served.

In CI the build must have compiled them (the machine has a C compiler); elsewhere a pure
Python build is allowed, and skips. An extension older than its source is refused: it would
run code other than the file a reader sees (``make`` recompiles after an edit)."""

from __future__ import annotations

import importlib
import os
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "src"


def listed() -> list[str]:
    with open(ROOT / "pyproject.toml", "rb") as file:
        modules: list[str] = tomllib.load(file)["tool"]["airelay"]["compiled"]
    return modules


@pytest.mark.parametrize("name", listed())
def test_a_listed_module_loads_compiled_from_its_current_source(name: str) -> None:
    source = SOURCES / (name.replace(".", "/") + ".py")
    assert source.is_file(), f"{name} is listed as compiled but has no source"
    loaded = Path(importlib.import_module(name).__file__ or "")
    if loaded.suffix == ".py":
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} loaded from its source: the CI build must compile it")
        pytest.skip("a pure Python build")
    assert loaded.stat().st_mtime >= source.stat().st_mtime, (
        f"{loaded.name} is older than {source.name}: run make to compile it again"
    )


def test_no_extension_is_left_of_a_module_not_listed() -> None:
    expected = {name.replace(".", "/") for name in listed()} | {"airelay__mypyc"}
    for built in SOURCES.rglob("*.so"):
        module = str(built.relative_to(SOURCES)).split(".", 1)[0]
        assert module in expected, f"{built} would load instead of its source"
