"""Session affinity: the turns of one conversation go to the channel and the upstream key
that served its last turn, so that the upstream's prompt cache (keyed by account, and often
by machine behind one key) stays warm. A cold cache costs the caller a full-price prompt on
every turn and the upstream a longer time to first token.

A session (``formats.session``: a key the client states, a session header, or the hash of
the conversation's prefix) is scoped by the caller's user and the model: two users who send
the same ``prompt_cache_key`` never share a binding, and an agent that calls a second model
within its session (Claude Code's small model) does not move the main model's binding.

A binding is (channel id, key index), kept ``ttl`` seconds after the session's last turn.
Routing tries the bound channel first with the bound key while it still serves the model
(``routing.bound_first``); a call it fails falls over like any other, and the channel that
serves it becomes the binding, which stays there.

Where bindings live:

* in-process, always: a dict (least recently used first) of at most ``max_sessions``
  entries. A call's lookup is one dict read.
* shared through Redis when ``AIRELAY_REDIS_URL`` is set, so that the turns of a session
  that a load balancer spreads over instances reach one channel. Redis is off the path of
  a call as far as it can be: an instance reads Redis only for a session it has not seen
  (one GET, ~0.15 ms on loopback, once per session and instance), and writes a new or moved
  binding in the background. A session it has seen is re-read in the background at most
  every ``REVALIDATE_SECONDS``: that renews the shared expiry while the session is busy
  here, and picks up a move another instance made. When Redis cannot be reached, calls go
  on with the in-process bindings, and Redis is left alone for ``DOWN_SECONDS``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from airelay.store.redis_client import TIMEOUT_SECONDS
from airelay.store.redis_scripts import Scripts, open_scripts
from airelay.store.snapshot import ChannelRecord

log = logging.getLogger(__name__)

#: In-process bindings kept at most (the least recently used go first): about 30 MiB.
MAX_SESSIONS = 100_000
#: Least time between two background re-reads of one session's shared binding.
REVALIDATE_SECONDS = 10.0
#: How long Redis is left alone after it failed.
DOWN_SECONDS = 5.0
_PREFIX = b"airelay:affinity:"


@dataclass(frozen=True, slots=True)
class Binding:
    channel_id: str
    key_index: int  # into the channel's ``api_keys``


def session_id(user_id: str, model: str, key: str) -> bytes:
    """The session ``key`` of ``user_id`` on ``model``, as a fixed-size digest: what is
    stored (the client's own text may be long, and is no one else's business)."""
    # Lengths, not separators: no key can spell another user's or model's scope.
    scoped = f"{len(user_id)}:{user_id}{len(model)}:{model}{key}".encode("utf-8", "surrogatepass")
    return hashlib.blake2b(scoped, digest_size=16).digest()


class _Entry:
    __slots__ = ("binding", "checked", "expires")

    def __init__(self, binding: Binding, expires: float, checked: float) -> None:
        self.binding = binding
        self.expires = expires
        self.checked = checked  # when the shared binding was last read or written


class Affinity:
    """Session → ``Binding``, with an idle ``ttl`` (seconds), in-process and, with
    ``redis``, shared between instances."""

    def __init__(
        self,
        ttl: float,
        *,
        redis: Scripts | None = None,
        max_sessions: int = MAX_SESSIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.redis = redis
        self._ttl_ms = max(1, int(ttl * 1000))
        self._revalidate = min(REVALIDATE_SECONDS, ttl / 4)
        self._max = max_sessions
        self._clock = clock
        # Least recently used first. An OrderedDict, not a dict: moving an entry to the end
        # and dropping the first are O(1) (a plain dict's pop-and-reinsert leaves holes that
        # make finding its first entry, and its resizes, cost O(n)).
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()
        self._down_until = 0.0
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def shared(self) -> bool:
        return self.redis is not None

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, session: bytes) -> Binding | None:
        """The session's binding in this process, renewed; None if it has none (or it
        expired)."""
        entries = self._entries
        entry = entries.get(session)
        if entry is None:
            return None
        now = self._clock()
        if entry.expires <= now:
            del entries[session]
            return None
        entries.move_to_end(session)
        entry.expires = now + self.ttl
        if self.redis is not None and now - entry.checked >= self._revalidate:
            entry.checked = now
            self._spawn(self._revalidate_shared(session, entry.binding))
        return entry.binding

    async def fetch(self, session: bytes) -> Binding | None:
        """The shared binding of a session this process has none for (one Redis GET), kept
        in-process when found; None when Redis has none or cannot be reached."""
        redis = self.redis
        if redis is None or not self._up():
            return None
        try:
            value = await redis.call(b"GET", _PREFIX + session)
        except Exception as exc:
            self._failed(redis, exc)
            return None
        binding = _decode(value)
        if binding is not None:
            self._keep(session, binding)
        return binding

    def bind(self, session: bytes, binding: Binding) -> None:
        """The session's turns go to ``binding`` from now on (here at once; shared in the
        background)."""
        self._keep(session, binding)
        if self.redis is not None:
            self._spawn(self._write(session, binding))

    async def close(self) -> None:
        """Finish the background writes (briefly) and close the Redis client."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=1.0)
            for task in list(self._tasks):
                task.cancel()
        if self.redis is not None:
            await self.redis.close()

    # ---- in-process

    def _keep(self, session: bytes, binding: Binding) -> None:
        now = self._clock()
        entries = self._entries
        if session in entries:
            entries.move_to_end(session)
        elif len(entries) >= self._max:
            entries.popitem(last=False)  # the least recently used
        entries[session] = _Entry(binding, now + self.ttl, now)

    # ---- shared (background, never awaited by a call)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        if not self._up():
            work.close()  # never started: Redis is left alone for now
            return
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, session: bytes, binding: Binding) -> None:
        redis = self.redis
        assert redis is not None
        try:
            await redis.call(b"SET", _PREFIX + session, _encode(binding), b"PX", self._ttl_ms)
        except Exception as exc:
            self._failed(redis, exc)

    async def _revalidate_shared(self, session: bytes, mine: Binding) -> None:
        """Renew the shared binding if it is still ``mine``; adopt another instance's move;
        put ``mine`` back if it expired there."""
        redis = self.redis
        assert redis is not None
        key = _PREFIX + session
        try:
            shared = _decode(await redis.call(b"GET", key))
            if shared is None:
                await redis.call(b"SET", key, _encode(mine), b"PX", self._ttl_ms, b"NX")
            elif shared == mine:
                await redis.call(b"PEXPIRE", key, self._ttl_ms)
            else:
                entry = self._entries.get(session)
                if entry is not None and entry.binding == mine:
                    entry.binding = shared
        except Exception as exc:
            self._failed(redis, exc)

    def _up(self) -> bool:
        return self._down_until <= self._clock()

    def _failed(self, redis: Scripts, exc: Exception) -> None:
        """Redis failed: leave it alone for a while (one log line per outage, not per
        call). Anything but Redis out of reach is raised again."""
        if not redis.failed(exc):
            raise exc
        if self._up():
            log.warning(
                "Redis unreachable (%s); session affinity uses in-process bindings for %.0f s",
                type(exc).__name__,
                DOWN_SECONDS,
            )
        self._down_until = self._clock() + DOWN_SECONDS


def _encode(binding: Binding) -> bytes:
    return f"{binding.key_index}:{binding.channel_id}".encode()


def _decode(value: bytes | str | None) -> Binding | None:
    """A stored binding; None for none, or for a value this version cannot read."""
    if not value:
        return None
    text = value if isinstance(value, str) else value.decode("utf-8", "replace")
    index, _, channel_id = text.partition(":")
    if not index.isdigit() or not channel_id:
        return None
    return Binding(channel_id, int(index))


def open_affinity(
    ttl: float, redis_url: str | None, timeout: float = TIMEOUT_SECONDS
) -> Affinity | None:
    """The process's affinity: None when it is off (``ttl`` 0). ``timeout``: Redis's."""
    if ttl <= 0:
        return None
    redis = open_scripts(redis_url, timeout=timeout) if redis_url else None
    return Affinity(ttl, redis=redis)


class SessionCall:
    """One call's session: the binding it had, which key each channel gets, and the
    binding it leaves."""

    __slots__ = ("affinity", "bound", "session")

    def __init__(self, affinity: Affinity, session: bytes, bound: Binding | None) -> None:
        self.affinity = affinity
        self.session = session
        self.bound = bound

    def key(self, channel: ChannelRecord) -> tuple[str, bool]:
        """The upstream key for an attempt on ``channel``, and whether it is the bound
        channel: the bound key there (while the channel still has it), else the next."""
        bound = self.bound
        if bound is None or bound.channel_id != channel.id:
            return channel.next_key(), False
        keys = channel.api_keys
        return (keys[bound.key_index] if bound.key_index < len(keys) else channel.next_key()), True

    def served(self, channel: ChannelRecord, key: str) -> None:
        """``channel`` answered with ``key``: the session is bound to them from now on."""
        bound = self.bound
        keys = channel.api_keys
        if (
            bound is not None
            and bound.channel_id == channel.id
            and bound.key_index < len(keys)
            and keys[bound.key_index] == key
        ):
            return  # unchanged; ``get`` renewed it
        # A keyless channel (a local upstream) answers with "": bound by channel alone.
        index = keys.index(key) if key in keys else 0
        self.affinity.bind(self.session, Binding(channel.id, index))


async def open_session(affinity: Affinity, user_id: str, model: str, key: str) -> SessionCall:
    """The session of a call: its binding from this process, else from Redis."""
    session = session_id(user_id, model, key)
    bound = affinity.get(session)
    if bound is None and affinity.redis is not None:
        bound = await affinity.fetch(session)
    return SessionCall(affinity, session, bound)
