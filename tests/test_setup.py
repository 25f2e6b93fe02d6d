"""The build script's choices (setup.py), without compiling: which extensions it asks mypyc
for, when it falls back to pure Python, and which built extensions an in-place build
removes so that none loads instead of its source."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """setup.py, its folder a copy with two listed modules, each built, and one built
    extension of a module no longer listed."""
    (tmp_path / "pyproject.toml").write_text(
        '[tool.airelay]\ncompiled = ["airelay.a", "airelay.b"]\n'
    )
    package = tmp_path / "src" / "airelay"
    package.mkdir(parents=True)
    for name in ("a", "b", "gone"):
        (package / f"{name}.py").write_text("")
        (package / f"{name}.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    (tmp_path / "src" / "airelay__mypyc.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    spec = importlib.util.spec_from_file_location("airelay_setup", ROOT / "setup.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "HERE", tmp_path)
    monkeypatch.setattr(sys, "argv", ["setup.py", "editable_wheel"])
    monkeypatch.setenv("AIRELAY_COMPILED", "1")
    return module


def _mypyc(monkeypatch: pytest.MonkeyPatch, answer: Any) -> list[list[str]]:
    """A stand-in for ``mypyc.build``: records what it is asked, answers ``answer`` (or
    raises it)."""
    asked: list[list[str]] = []

    def mypycify(paths: list[str], **_options: Any) -> list[str]:
        asked.append(paths)
        if isinstance(answer, BaseException):
            raise answer
        return list(answer)

    fake = types.ModuleType("mypyc.build")
    fake.mypycify = mypycify  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "mypyc.build", fake)
    return asked


def _built(root: Path) -> set[str]:
    return {str(path.relative_to(root / "src")).split(".")[0] for path in root.rglob("*.so")}


def test_an_in_place_build_compiles_the_list_and_removes_what_is_not_on_it(
    build: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = _mypyc(monkeypatch, ["ext"])
    assert build.extensions() == ["ext"]
    assert asked[0][-2:] == ["src/airelay/a.py", "src/airelay/b.py"]
    assert _built(build.HERE) == {"airelay/a", "airelay/b", "airelay__mypyc"}


@pytest.mark.parametrize("compiled", [None, "0", "true"])
def test_a_build_not_asked_to_compile_is_pure_and_removes_every_extension(
    build: types.ModuleType, monkeypatch: pytest.MonkeyPatch, compiled: str | None
) -> None:
    """Pure Python is the default: only ``AIRELAY_COMPILED=1`` compiles."""
    asked = _mypyc(monkeypatch, ["ext"])
    if compiled is None:
        monkeypatch.delenv("AIRELAY_COMPILED")
    else:
        monkeypatch.setenv("AIRELAY_COMPILED", compiled)
    assert build.extensions() == []
    assert asked == [] and _built(build.HERE) == set()


def test_mypyc_refusing_the_sources_falls_back_to_pure_python(
    build: types.ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _mypyc(monkeypatch, SystemExit(2))  # how mypyc ends on a type error
    assert build.extensions() == []
    assert "building pure Python" in capsys.readouterr().err


def test_metadata_steps_ask_for_nothing(
    build: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = _mypyc(monkeypatch, ["ext"])
    monkeypatch.setattr(sys, "argv", ["setup.py", "egg_info"])
    assert build.extensions() == [] and asked == []
    assert len(_built(build.HERE)) == 4  # nothing removed either


def test_a_failed_compile_removes_what_it_built_and_leaves_pure_python(
    build: types.ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """All or nothing: one extension the C compiler fails on, and those built before it go
    too (a module's stub without the shared library would not import)."""
    from setuptools.command.build_ext import build_ext
    from setuptools.dist import Distribution

    built = [build.HERE / "src" / "airelay" / "a.cpython-311-x86_64-linux-gnu.so"]
    missing = build.HERE / "src" / "airelay" / "b.cpython-311-x86_64-linux-gnu.so"
    missing.unlink()  # the one it failed on, never written

    def compile_fails(self: build_ext) -> None:
        raise RuntimeError("gcc: error: exit status 1")

    monkeypatch.setattr(build_ext, "run", compile_fails)
    monkeypatch.setattr(build_ext, "get_outputs", lambda self: [*map(str, built), str(missing)])
    command = build.AllOrNothing(Distribution())
    command.run()
    assert not built[0].exists()
    assert "building pure Python" in capsys.readouterr().err
