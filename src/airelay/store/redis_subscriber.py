"""One Redis pub/sub channel's messages, on a connection of its own (the configuration bus).

A subscribed connection answers no command but ``PING``: Redis pushes each message as it
comes. ``redis://`` and ``unix://`` URLs are read with the project's RESP parser
(``resp``), like the hot path's commands, so that a gateway on such a Redis never loads
redis-py (6 MiB once imported); other URLs (``rediss://``) go through redis-py's pub/sub.

A subscription waits for messages as long as it takes, but not on a dead connection:
after ``IDLE_SECONDS`` without a message it sends ``PING``, which must be answered within
the timeout. Every failure to reach Redis is raised as ``OSError``, ``TimeoutError`` or
``resp.ReplyError``: the caller reconnects.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any, cast

from airelay.store.redis_scripts import PIPELINED_SCHEMES
from airelay.store.resp import ProtocolError, auth_command, dial, pack, parse_many, parse_url

#: Seconds without a message before the connection is checked with a ``PING``.
IDLE_SECONDS = 30.0


async def messages(
    url: str,
    channel: bytes,
    timeout: float,
    subscribed: Callable[[], None] = lambda: None,
    idle: float = IDLE_SECONDS,
) -> AsyncGenerator[bytes, None]:
    """The data of each message published on ``channel`` from now on (``subscribed`` is
    called once the subscription holds); raises when Redis cannot be reached or the
    connection is lost."""
    if not url.startswith(PIPELINED_SCHEMES):
        async for data in _library_messages(url, channel, timeout, subscribed):
            yield data
        return
    subscription = await Subscription.open(url, channel, timeout)
    subscribed()
    try:
        while True:
            yield await subscription.message(idle)
    finally:
        subscription.close()


class _Pushes(asyncio.Protocol):
    """What Redis sends, parsed, in a queue (a lost connection ends it with the error)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            answers = parse_many(self._buffer)
        except ProtocolError as exc:
            self.queue.put_nowait(exc)
            if self.transport is not None:
                self.transport.abort()
            return
        for answer in answers:
            self.queue.put_nowait(answer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.queue.put_nowait(exc or ConnectionResetError("Redis closed the connection"))


class Subscription:
    """A connection subscribed to one channel."""

    def __init__(self, pushes: _Pushes, timeout: float) -> None:
        self._pushes = pushes
        self._timeout = timeout

    @classmethod
    async def open(cls, url: str, channel: bytes, timeout: float) -> Subscription:
        target = parse_url(url)
        pushes = (await asyncio.wait_for(dial(target, _Pushes), timeout))[1]
        subscription = cls(pushes, timeout)
        try:
            auth = auth_command(target)
            if auth is not None:
                subscription._send(auth)
                await subscription._answer()
            subscription._send((b"SUBSCRIBE", channel))
            answer = await subscription._answer()
            if not isinstance(answer, list) or answer[:1] != [b"subscribe"]:
                raise ProtocolError(f"not a subscription: {answer!r}")
        except BaseException:
            subscription.close()
            raise
        return subscription

    async def message(self, idle: float = IDLE_SECONDS) -> bytes:
        """The next message's data."""
        while True:
            try:
                item = await asyncio.wait_for(self._pushes.queue.get(), idle)
            except TimeoutError:
                self._send((b"PING",))
                item = await self._answer()  # its pong, or a message that came first
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, list) and len(item) == 3 and item[0] == b"message":
                data: bytes = item[2]
                return data

    def close(self) -> None:
        if self._pushes.transport is not None:
            self._pushes.transport.abort()

    def _send(self, args: tuple[bytes, ...] | list[Any]) -> None:
        if self._pushes.transport is None or self._pushes.transport.is_closing():
            raise ConnectionResetError("Redis connection closed")
        self._pushes.transport.write(pack(args))

    async def _answer(self) -> Any:
        """The next thing Redis sends, within the timeout; an error answer raised."""
        item = await asyncio.wait_for(self._pushes.queue.get(), self._timeout)
        if isinstance(item, BaseException):
            raise item
        return item


async def _library_messages(
    url: str, channel: bytes, timeout: float, subscribed: Callable[[], None]
) -> AsyncIterator[bytes]:
    """The same through redis-py (a URL the RESP client does not speak: ``rediss://``)."""
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=None,  # a subscriber waits for messages as long as it takes
        socket_keepalive=True,
        health_check_interval=int(IDLE_SECONDS),
    )
    try:
        async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
            await pubsub.subscribe(channel)
            subscribed()
            async for message in pubsub.listen():
                data = message.get("data")
                if isinstance(data, bytes):
                    yield data
    except RedisError as exc:
        raise ConnectionError(str(exc)) from exc
    finally:
        await client.aclose()
