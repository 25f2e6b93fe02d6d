"""What compiling the hot modules to C with mypyc saves: the gateway's CPU per call from a
pure-Python copy of the package and from a copy with ``--modules`` compiled (by default the
modules the build compiles, with the dev dependencies' mypyc), each configured as ``make
bench --limits`` configures one (limits in every scope in Redis, never tripped), measured in
turn under the same wrk load round after round, beside the floor (the pass-through proxy) on
the plain and streamed chat paths; then the translator in-process (``bench/translate.py``)
from both copies.

    .venv/bin/python bench/compiled.py [--rounds 4] [--seconds 3] [--modules a.b,c.d]
        [--baseline a.b]

With ``--baseline``, the copy it is compared with has those modules compiled rather than
none: what compiling the modules ``--modules`` adds would save.

Prints the CPU µs per call of each (the server process's utime + stime over the requests wrk
made), each round, then the median per kind, and each translated path's µs per stream.
Gateway, floor, upstream and wrk are pinned as ``make bench`` pins them. Nothing is asserted
and nothing is installed: the copies live in a temporary folder.

The compiled copy is what the build makes of the same list (``setup.py``), in a folder of
its own: both are measured side by side whatever the installed build is.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import gateway
import procs
import wrk
from run import cores

HERE = Path(__file__).resolve().parent
SOURCES = HERE.parent / "src"
PYPROJECT = HERE.parent / "pyproject.toml"  # the type checker's settings, the build's list
TRANSLATED = ("openai-to-anthropic", "anthropic-to-openai", "responses-to-openai")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=3, help="each wrk run (c32)")
    parser.add_argument("--kinds", default="plain,stream," + ",".join(TRANSLATED))
    parser.add_argument(
        "--modules",
        default=",".join(compiled_by_the_build()),
        help="comma-separated (default: those the build compiles, pyproject.toml)",
    )
    parser.add_argument(
        "--baseline",
        default=None,
        help="comma-separated: compile these in the copy compared with (default: none)",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    return parser.parse_args()


def compiled_by_the_build() -> list[str]:
    with open(PYPROJECT, "rb") as file:
        modules: list[str] = tomllib.load(file)["tool"]["airelay"]["compiled"]
    return modules


def copy(work: Path, name: str) -> Path:
    """A pure-Python copy of the package (none of the build's extensions); its folder."""
    root = work / name
    shutil.copytree(
        SOURCES / "airelay",
        root / "airelay",
        ignore=shutil.ignore_patterns("__pycache__", "*.so", "console_dist"),
    )
    return root


def compile_copy(work: Path, name: str, modules: list[str]) -> Path:
    """A copy of the package with ``modules`` compiled beside their sources; its folder."""
    root = copy(work, name)
    paths = [module.replace(".", "/") + ".py" for module in modules]
    print(f"compiling {len(paths)} modules with mypyc (a minute or two) ...", flush=True)
    log = work / f"mypyc-{name}.log"
    with log.open("wb") as out:
        done = subprocess.run(
            [sys.executable, "-m", "mypyc", "--config-file", str(PYPROJECT), *paths],
            cwd=root,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    built = [path for path in paths if list((root / path).parent.glob(Path(path).stem + ".*.so"))]
    if done.returncode != 0 or len(built) != len(paths):
        raise SystemExit(f"mypyc failed (exit {done.returncode}); see {log}")
    return root


def launcher(work: Path, name: str, sources: Path) -> Path:
    """An ``airelay`` command that imports the package from ``sources`` first."""
    script = work / f"airelay-{name}"
    script.write_text(
        f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(sources)!r})\n"
        "from airelay.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    )
    script.chmod(0o755)
    return script


def translator_micros(sources: Path, path: str) -> float:
    """``bench/translate.py``'s µs per stream for ``path``, the package from ``sources``."""
    env = {**os.environ, "PYTHONPATH": str(sources)}
    out = subprocess.run(
        [sys.executable, str(HERE / "translate.py"), "--path", path, "--streams", "5000"],
        env=env,
        cwd=HERE,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = re.search(r"([\d.]+) µs per stream", out)
    if found is None:
        raise SystemExit(f"translate.py printed no figure: {out!r}")
    return float(found.group(1))


def main() -> None:
    args = parse()
    modules = [m for m in args.modules.split(",") if m]
    cpu = cores()
    work = Path(tempfile.mkdtemp(prefix="airelay-compiled-"))
    if args.baseline is None:
        trees = {"pure": copy(work, "pure-src")}
    else:
        baseline = [m for m in args.baseline.split(",") if m]
        trees = {"baseline": compile_copy(work, "baseline-src", baseline)}
    trees["compiled"] = compile_copy(work, "compiled-src", modules)
    upstream_port = procs.free_port()
    argv = [sys.executable, str(HERE / "upstream.py")]
    upstream = procs.start([*argv, "--port", str(upstream_port)], cpu.load, work / "up.log")
    floor_port = procs.free_port()
    floor = procs.start(
        [sys.executable, str(HERE / "floor.py"), "--port", str(floor_port),
         "--upstream", f"http://127.0.0.1:{upstream_port}/v1/chat/completions"],
        cpu.server, work / "floor.log",
    )  # fmt: skip
    started: dict[str, gateway.Gateway] = {}
    try:
        procs.wait_port(upstream_port, upstream)
        procs.wait_port(floor_port, floor)
        limits = gateway.Limits(args.redis_url)
        for name, sources in trees.items():
            data = work / name
            data.mkdir()
            database = f"sqlite:///{data / 'airelay.db'}"
            command = launcher(work, name, sources)
            log = work / f"{name}.log"
            gw = gateway.start(command, database, data, 1, cpu.server, log, limits)
            started[name] = gw
            gateway.configure(gw, upstream_port, True)
        scripts = {name: wrk.scripts_in(work, name, gw.api_key)
                   for name, gw in started.items()}  # fmt: skip
        floor_scripts = wrk.scripts_in(work, "floor", "-")
        per_call: dict[tuple[str, str], list[float]] = {}
        for round_ in range(args.rounds):
            for kind in args.kinds.split(","):
                runs = [(name, gw.port, gw.pids, scripts[name][kind])
                        for name, gw in started.items()]  # fmt: skip
                if kind in ("plain", "stream"):
                    runs.append(("floor", floor_port, lambda: [floor.pid], floor_scripts[kind]))
                if round_ % 2:
                    runs.reverse()
                for name, port, pids, script in runs:
                    before = procs.cpu_seconds(pids())
                    result = wrk.run(script, port, 32, args.seconds, cpu.load)
                    micros = (procs.cpu_seconds(pids()) - before) / max(result.requests, 1) * 1e6
                    per_call.setdefault((kind, name), []).append(micros)
                    rate = f"{result.rps:,.0f} req/s ({result.errors} errors)"
                    print(f"round {round_} {kind} {name}: {rate}, {micros:.0f} µs/call", flush=True)
        for (kind, name), values in sorted(per_call.items()):
            print(f"{kind} {name}: median {statistics.median(values):.0f} µs/call")
    finally:
        for gw in started.values():
            procs.stop(gw.proc)
        procs.stop(floor)
        procs.stop(upstream)
    first = next(iter(trees))
    for path in TRANSLATED:
        slow = translator_micros(trees[first], path)
        fast = translator_micros(trees["compiled"], path)
        print(f"translator {path}: {slow:.1f} µs per stream {first}, {fast:.1f} compiled")


if __name__ == "__main__":
    main()
