"""Token counts in a child process, started on the first count and retired when idle.

Why a process: the two BPE tables take ~70 MB once built (o200k_base ~47, cl100k_base ~23)
and building one holds the GIL for 0.1-0.4 s (longer on a busy machine), which stalls an
event loop even from a worker thread. Yet a gateway counts tokens only for calls whose
upstream reported no usage and for the ``count_tokens`` endpoints; most never need a count.
So the serving process never builds the tables: it hands the texts to a child
(``python -m airelay.billing.counter_child``) over a pipe, and the loop only waits for the
answer. The child is started by the first count (about 0.3 s with its import), exits when
the pipe closes (the parent ended) or after ``idle_seconds`` without a count, and comes back
on the next one. Counts stay exact: the child runs the same ``tokenizer.count``.

If the child cannot be started or dies, ``count`` raises ``CounterUnavailable`` for the
calls in flight and for ``RETRY_AFTER_SECONDS``; callers then count in-process in a thread
(``tokens``): slower to start and heavier, but the same numbers.

Frames on the pipe are a 4-byte big-endian length and a msgpack body: a request is
``[encoding, [text, ...]]``, an answer ``[count, ...]`` or ``{"error": message}``; the child
answers in order, one request at a time, so the parent keeps a queue of waiting futures.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import sys
import time
from collections import deque
from collections.abc import Sequence

import msgspec

from airelay.billing.tokenizer import EncodingName

log = logging.getLogger(__name__)

IDLE_SECONDS = 300.0
RETRY_AFTER_SECONDS = 30.0
HEADER = struct.Struct(">I")
_encode = msgspec.msgpack.Encoder().encode
_decode_answer = msgspec.msgpack.Decoder(list[int] | dict[str, str]).decode


class CounterUnavailable(RuntimeError):
    """The counting process could not be started, or ended before it answered."""


def frame(payload: bytes) -> bytes:
    return HEADER.pack(len(payload)) + payload


class Counter:
    """The parent's end of one counting child, bound to the event loop that started it."""

    def __init__(self, idle_seconds: float = IDLE_SECONDS) -> None:
        self._idle_seconds = idle_seconds
        self._proc: asyncio.subprocess.Process | None = None
        self._starting: asyncio.Task[asyncio.subprocess.Process] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: deque[asyncio.Future[list[int]]] = deque()
        self._reader: asyncio.Task[None] | None = None
        self._idle: asyncio.TimerHandle | None = None
        self._failed_at = -RETRY_AFTER_SECONDS

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def count(self, encoding: EncodingName, texts: Sequence[str]) -> list[int]:
        """``encoding``'s token count of each of ``texts``."""
        proc = await self._process()
        assert proc.stdin is not None
        future: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        self._cancel_idle()
        try:
            proc.stdin.write(frame(_encode([encoding, list(texts)])))
            await proc.stdin.drain()
        except (ConnectionError, RuntimeError) as exc:
            self._lost(f"the counting process stopped reading: {exc}")
        return await asyncio.shield(future)

    async def _process(self) -> asyncio.subprocess.Process:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self.kill()  # left by another event loop (tests run several): start afresh
            self._loop = loop
        if self.running:
            assert self._proc is not None
            return self._proc
        if time.monotonic() - self._failed_at < RETRY_AFTER_SECONDS:
            raise CounterUnavailable("the counting process failed recently")
        if self._starting is None:
            self._starting = loop.create_task(self._start())
        try:
            return await asyncio.shield(self._starting)
        finally:
            if self._starting is not None and self._starting.done():
                self._starting = None

    async def _start(self) -> asyncio.subprocess.Process:
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "airelay.billing.counter_child",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            self._failed_at = time.monotonic()
            raise CounterUnavailable(f"cannot start the counting process: {exc}") from exc
        self._proc = proc
        self._reader = asyncio.get_running_loop().create_task(self._read(proc))
        return proc

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        try:
            while True:
                (size,) = HEADER.unpack(await proc.stdout.readexactly(HEADER.size))
                answer = _decode_answer(await proc.stdout.readexactly(size))
                future = self._waiting.popleft()
                if future.done():
                    pass
                elif isinstance(answer, dict):
                    future.set_exception(CounterUnavailable(answer.get("error", "failed")))
                else:
                    future.set_result(answer)
                if not self._waiting:
                    self._arm_idle()
        except (asyncio.IncompleteReadError, ConnectionError, msgspec.DecodeError) as exc:
            if proc is self._proc:
                self._lost(f"the counting process ended: {exc!r}")
        except asyncio.CancelledError:
            if proc is self._proc:
                # The loop is ending (``asyncio.run`` cancels what is left) with the child
                # still running: end it here, while the loop can still reap it.
                self._proc = self._reader = None
                self._cancel_idle()
                self._fail_waiting("the event loop ended")
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
            raise

    def _lost(self, reason: str) -> None:
        log.error("%s; counting in-process instead", reason)
        self._failed_at = time.monotonic()
        self.kill()

    def _fail_waiting(self, reason: str) -> None:
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_exception(CounterUnavailable(reason))

    def _arm_idle(self) -> None:
        self._cancel_idle()
        if self._loop is not None:
            self._idle = self._loop.call_later(self._idle_seconds, self._retire)

    def _cancel_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def _retire(self) -> None:
        """Idle: close the pipe; the child exits on end of input and gives its memory back."""
        self._idle = None
        if self._waiting or self._proc is None:
            return
        proc, self._proc = self._proc, None
        if self._reader is not None:
            self._reader.cancel()
            self._reader = None
        if proc.stdin is not None:
            proc.stdin.close()

    def kill(self) -> None:
        """End the child now (any loop, no await): waiting counts fail."""
        self._cancel_idle()
        proc, self._proc = self._proc, None
        if self._reader is not None:
            self._reader.cancel()
            self._reader = None
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        self._fail_waiting("the counting process was stopped")

    async def close(self) -> None:
        """Retire the child and wait for it to exit (at shutdown)."""
        proc = self._proc
        if self._waiting:
            self.kill()
        else:
            self._retire()
        if proc is not None and proc.returncode is None:
            try:
                await asyncio.wait_for(proc.wait(), 5.0)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        self._loop = None


COUNTER = Counter()
