"""The build (setup.py) as the suite runs against it: pure Python by default, with no
extension left beside the sources; with ``AIRELAY_COMPILED=1`` (set for the install and
the tests alike, as ``AIRELAY_COMPILED=1 make test`` does), the modules pyproject.toml lists
load as the extensions mypyc made of their current sources, so that the suite tests the code
that is served. An extension older than its source is refused: it would run code other than
the file a reader sees (``make`` recompiles after an edit)."""

from __future__ import annotations

import importlib
import os
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "src"
COMPILED = os.environ.get("AIRELAY_COMPILED") == "1"


def listed() -> list[str]:
    with open(ROOT / "pyproject.toml", "rb") as file:
        modules: list[str] = tomllib.load(file)["tool"]["airelay"]["compiled"]
    return modules


@pytest.mark.parametrize("name", listed())
def test_a_listed_module_loads_as_the_build_was_asked(name: str) -> None:
    source = SOURCES / (name.replace(".", "/") + ".py")
    assert source.is_file(), f"{name} is listed as compiled but has no source"
    loaded = Path(importlib.import_module(name).__file__ or "")
    if not COMPILED:
        assert loaded == source, f"{name} loaded from {loaded.name}, not its source"
        return
    assert loaded.suffix != ".py", f"{name} loaded from its source: the build did not compile"
    assert loaded.stat().st_mtime >= source.stat().st_mtime, (
        f"{loaded.name} is older than {source.name}: run make to compile it again"
    )


def test_no_extension_is_left_that_the_build_did_not_ask_for() -> None:
    expected = {name.replace(".", "/") for name in listed()} | {"airelay__mypyc"}
    for built in SOURCES.rglob("*.so"):
        module = str(built.relative_to(SOURCES)).split(".", 1)[0]
        assert COMPILED, f"{built} would load instead of its source in a pure build"
        assert module in expected, f"{built} would load instead of its source"
