"""The build: setuptools (pyproject.toml holds the metadata). With ``AIRELAY_COMPILED=1`` set
for the install, the modules every relayed call runs (``[tool.airelay] compiled`` in
pyproject.toml) are compiled to C extensions by mypyc, from the same type-checked sources;
without it the package is pure Python, the default.

Why opt-in: what compiling saves depends on the CPU (BENCHMARKS.md, ``bench/compiled.py``).
On an Intel Xeon it took 6-11% of the gateway's CPU per call. On an AMD EPYC it took 3% from
a plain call but added 10% to a stream and 4-5% to a translated one. Most of what the AMD
profile adds is generic attribute and dictionary lookups: compiled code reads the attributes
of objects it did not compile (aiohttp's, asyncio's, the classes of modules left pure) with
no cache, where the interpreter's specialised instructions cache them. Measure on the
machine that serves before turning it on.
What differs, compiled: a traceback logged for an exception another task hands on through a
future starts where it was handed on, not where it was raised (nothing reads those frames:
``store.db.DatabaseUnreachable``).

Pure Python stays a complete build: without ``AIRELAY_COMPILED=1``, without mypyc, when
mypyc refuses (it type-checks against the installed dependencies: an isolated build, which
has none, is pure), or when the C compiler fails (then all or nothing: a module's stub
without the shared library would not import), the package installs without extensions and
behaves the same.
"""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
# The commands that build (pip's metadata steps do not: they need no compiler, nor mypy).
BUILDING = {"build", "build_ext", "bdist_wheel", "editable_wheel", "develop", "install"}
# The shared library of the compiled modules (mypyc's group), beside the package.
SHARED = "src/airelay__mypyc"


def compiled_sources() -> list[str]:
    with open(HERE / "pyproject.toml", "rb") as file:
        modules: list[str] = tomllib.load(file)["tool"]["airelay"]["compiled"]
    return [f"src/{module.replace('.', '/')}.py" for module in modules]


def extensions() -> list[Any]:
    if not BUILDING & set(sys.argv):
        return []
    mypycify = None
    if os.environ.get("AIRELAY_COMPILED") == "1":
        try:
            from mypyc.build import mypycify
        except ImportError:
            print("airelay: mypyc is not installed; building pure Python", file=sys.stderr)
    if "editable_wheel" in sys.argv or "--inplace" in sys.argv:
        # Built beside the sources: an extension left by an earlier build, of a module no
        # longer listed or of any when this build is pure Python, would load instead of
        # its source.
        keep = set()
        if mypycify is not None:
            keep = {SHARED, *(name.removesuffix(".py") for name in compiled_sources())}
        for built in (HERE / "src").rglob("*.so"):
            if str(built.relative_to(HERE)).split(".", 1)[0] not in keep:
                built.unlink()
    if mypycify is None:
        return []
    # The type checker's settings (the overrides of untyped packages), wherever pip runs.
    paths = ["--config-file", str(HERE / "pyproject.toml"), *compiled_sources()]
    try:
        return list(mypycify(paths, opt_level="3", debug_level="0", group_name="airelay"))
    except (Exception, SystemExit) as exc:  # mypyc refused the sources (it exits on errors)
        print(f"airelay: mypyc failed ({exc}); building pure Python", file=sys.stderr)
        return []


class AllOrNothing(build_ext):
    """``build_ext`` that, when any extension fails to compile, removes those it built and
    leaves the pure-Python package."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # the compiler's failure (setuptools' error types vary)
            for output in self.get_outputs():
                Path(output).unlink(missing_ok=True)
            print(f"airelay: compiling failed ({exc}); building pure Python", file=sys.stderr)


if __name__ == "__main__":  # (how pip runs it; a test imports it)
    setup(ext_modules=extensions(), cmdclass={"build_ext": AllOrNothing})
