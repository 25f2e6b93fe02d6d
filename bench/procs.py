"""Processes: start pinned to cores, wait for a port, stop, and read RSS and CPU from /proc."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start(
    argv: list[str], cpus: str, log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``argv`` pinned to ``cpus`` (taskset execs, so the Popen pid is the program)."""
    out = log.open("ab")
    try:
        return subprocess.Popen(
            ["taskset", "-c", cpus, *argv],
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        out.close()


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} never opened")


def stop(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> int:
    """SIGTERM, then SIGKILL to the process group after ``timeout``; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    return proc.returncode


def affinity(pid: int) -> set[int]:
    return os.sched_getaffinity(pid)


def pin(pids: list[int], cpus: set[int]) -> None:
    """Move every thread of ``pids`` to ``cpus`` (a thread keeps the affinity it started
    with, so the process's own call would leave, e.g., a database thread behind)."""
    for pid in pids:
        try:
            tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            continue
        for tid in tids:
            with contextlib.suppress(OSError):  # a thread that ended meanwhile
                os.sched_setaffinity(tid, cpus)


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (a multi-worker gateway is a parent plus workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def rss_mib(pids: list[int]) -> float:
    kb = 0
    for pid in pids:
        try:
            lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        except OSError:
            continue
        kb += sum(int(line.split()[1]) for line in lines if line.startswith("VmRSS:"))
    return kb / 1024


def cpu_seconds(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / TICK


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    return {pid: cpu_seconds([pid]) for pid in pids}


def named(comm: str) -> list[int]:
    """Processes whose command name is ``comm`` (e.g. the PostgreSQL server's)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/comm").read_text().strip() == comm:
                    out.append(int(entry))
            except OSError:
                continue
    return out


class Background:
    """CPU the rest of the machine used while a measurement ran: user and system time of the
    whole machine (/proc/stat; softirq time, mostly our own loopback traffic, left out) minus
    this process and its reaped children (wrk), the servers measured and the PostgreSQL
    server; and the hypervisor's steal time. Both in % of one core."""

    def __init__(self, ours: Callable[[], list[int]]) -> None:
        self.ours = ours
        self.start = self._snapshot()

    def _snapshot(self) -> tuple[float, float, float, float, dict[int, float]]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        user, nice, system, _idle, _iowait, _irq, _softirq, steal = fields
        t = os.times()
        mine = t.user + t.system + t.children_user + t.children_system
        busy = (user + nice + system) / TICK
        ours = cpu_by_pid(self.ours() + named("postgres"))
        return time.monotonic(), busy, steal / TICK, mine, ours

    def percent(self) -> tuple[float, float]:
        """(other processes, steal) since this object was made."""
        t0, busy0, steal0, mine0, ours0 = self.start
        t1, busy1, steal1, mine1, ours1 = self._snapshot()
        ours = sum(cpu - ours0.get(pid, 0.0) for pid, cpu in ours1.items())
        other = (busy1 - busy0) - (mine1 - mine0) - ours
        wall = max(t1 - t0, 1e-9)
        return max(other, 0.0) / wall * 100, (steal1 - steal0) / wall * 100
