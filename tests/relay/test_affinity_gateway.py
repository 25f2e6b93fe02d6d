"""Session affinity through the gateway, with the official SDKs and two equal channels (same
priority, same weight, several upstream keys each) on fake upstreams: the turns of one
conversation land on one channel and one key; when that channel fails they move and stay
moved; other conversations spread; users never share a binding; bindings expire; a second
instance sees them through Redis. Usage rows mark the calls that went to their bound
channel."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from fakes.openai_upstream import Behaviour, FakeOpenAI
from google import genai
from google.genai import types
from support.admin import Admin, unique_model
from support.databases import sqlite_url
from support.gateway import Gateway
from support.ledger import usage_rows
from support.redis_server import require_redis

LEFT_KEYS = ("sk-left-1", "sk-left-2", "sk-left-3")
RIGHT_KEYS = ("sk-right-1", "sk-right-2")
SYSTEM = "You are a careful coding agent."


@pytest.fixture(scope="module")
def left() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_keys=LEFT_KEYS, name="left") as fake:
        yield fake


@pytest.fixture(scope="module")
def right() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_keys=RIGHT_KEYS, name="right") as fake:
        yield fake


@pytest.fixture(autouse=True)
def _fresh(left: FakeOpenAI, right: FakeOpenAI) -> None:
    left.reset()
    right.reset()


def two_channels(admin: Admin, left: FakeOpenAI, right: FakeOpenAI) -> str:
    """A model on two equal channels, each with several keys."""
    model = unique_model("aff")
    for fake, keys in ((left, LEFT_KEYS), (right, RIGHT_KEYS)):
        admin.create_channel(
            base_url=fake.base_url,
            api_keys=list(keys),
            models=[model],
            priority=1,
            weight=1,
            timeout=5.0,
        )
    return model


@pytest.fixture
def model(admin: Admin, left: FakeOpenAI, right: FakeOpenAI) -> str:
    return two_channels(admin, left, right)


def user_key(admin: Admin) -> tuple[str, str]:
    user = admin.create_user()
    return str(user["id"]), str(admin.create_token(user["id"])["key"])


def served(*fakes: FakeOpenAI) -> list[tuple[str, str | None]]:
    """(fake, upstream key) of every request the fakes received, in order per fake."""
    return [(fake.name, request.api_key) for fake in fakes for request in fake.chat_requests]


def sdk(gateway: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=30)


class ChatConversation:
    """A chat conversation as an agent holds it: each turn sends the whole history."""

    def __init__(self, client: openai.OpenAI, model: str, cache_key: str | None) -> None:
        self.client = client
        self.model = model
        self.cache_key = cache_key
        self.messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]
        self.request_ids: list[str] = []

    def turn(self, text: str, *, stream: bool = False) -> str:
        self.messages.append({"role": "user", "content": text})
        extra: dict[str, Any] = {}
        if self.cache_key is not None:
            extra["prompt_cache_key"] = self.cache_key
        create = self.client.chat.completions.with_raw_response.create
        raw = create(model=self.model, messages=self.messages, stream=stream, **extra)  # type: ignore[call-overload]
        self.request_ids.append(raw.headers["x-request-id"])
        if stream:
            answer = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
        else:
            answer = raw.parse().choices[0].message.content or ""
        self.messages.append({"role": "assistant", "content": answer})
        return answer


def wait_for_model(gateway: Gateway, key: str, model: str, timeout: float = 15) -> None:
    """Until ``gateway`` knows the key and lists the model (another instance wrote them)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if any(m.id == model for m in sdk(gateway, key).models.list()):
                return
        except openai.AuthenticationError:
            pass
        assert time.monotonic() < deadline, "the instance did not pick the model up"
        time.sleep(0.1)


def affinity_marks(
    database_url: str, user_id: str, request_ids: list[str], calls: int | None = None
) -> list[int]:
    """The usage rows' affinity mark of each call, in the order of ``request_ids``, once
    the user's ``calls`` rows (default: one per id) are written."""
    rows = usage_rows(database_url, user_id, calls or len(request_ids))
    by_id = {row["request_id"]: row["affinity"] for row in rows}
    return [int(by_id[request_id]) for request_id in request_ids]  # type: ignore[call-overload]


@pytest.mark.parametrize("cache_key", [True, False], ids=["prompt_cache_key", "prefix-hash"])
def test_twenty_turns_stay_on_one_channel_and_key_then_move_and_stay_moved(
    gateway: Gateway,
    admin: Admin,
    model: str,
    left: FakeOpenAI,
    right: FakeOpenAI,
    cache_key: bool,
) -> None:
    user_id, key = user_key(admin)
    chat = ChatConversation(
        sdk(gateway, key), model, "conv-" + uuid.uuid4().hex if cache_key else None
    )
    for turn in range(20):
        assert chat.turn(f"step {turn}") == f"Hello! You said: step {turn}"
    first = served(left, right)
    assert len(first) == 20 and len(set(first)) == 1, first
    bound_name, bound_key = first[0]
    bound, other = (left, right) if bound_name == "left" else (right, left)

    # The bound channel fails (500 on every call): the next turn falls over, and the binding
    # moves to the channel that served it.
    bound.reset()
    bound.default = Behaviour.error(500, "down")
    assert chat.turn("after the failure") == "Hello! You said: after the failure"
    assert [r.api_key for r in bound.chat_requests] == [bound_key]  # tried first, failed
    bound.reset()  # healthy again: the session stays where it moved
    for turn in range(5):
        chat.turn(f"later {turn}")
    moved = served(other)
    assert len(moved) == 6 and len(set(moved)) == 1, moved
    assert not bound.chat_requests
    marks = affinity_marks(gateway.settings.database_url, user_id, chat.request_ids)
    assert marks == [0] + [1] * 19 + [0] + [1] * 5


def test_a_stream_moves_when_its_channel_closes_the_connection(
    gateway: Gateway, admin: Admin, model: str, left: FakeOpenAI, right: FakeOpenAI
) -> None:
    user_id, key = user_key(admin)
    chat = ChatConversation(sdk(gateway, key), model, None)
    for turn in range(3):
        chat.turn(f"stream {turn}", stream=True)
    (where,) = set(served(left, right))
    bound, other = (left, right) if where[0] == "left" else (right, left)
    bound.reset()
    bound.default = Behaviour.close_immediately()
    for turn in range(3):
        assert chat.turn(f"moved {turn}", stream=True) == f"Hello! You said: moved {turn}"
    # Only the turn that found it broken went there (the client may retry a request once on
    # a kept-alive connection the upstream closed).
    assert {r.body["messages"][-1]["content"] for r in bound.chat_requests} == {"moved 0"}
    assert len(set(served(other))) == 1 and len(other.chat_requests) == 3
    marks = affinity_marks(gateway.settings.database_url, user_id, chat.request_ids)
    assert marks == [0, 1, 1, 0, 1, 1]


def test_conversations_spread_over_channels_and_keys_each_staying_put(
    gateway: Gateway, admin: Admin, model: str, left: FakeOpenAI, right: FakeOpenAI
) -> None:
    _, key = user_key(admin)
    client = sdk(gateway, key)
    chats = [ChatConversation(client, model, f"spread-{n}") for n in range(16)]
    placed: list[tuple[str, str | None]] = []
    for chat in chats:
        left.reset()
        right.reset()
        for turn in range(3):
            chat.turn(f"turn {turn}")
        where = set(served(left, right))
        assert len(where) == 1, where  # each conversation on one channel and key
        placed.append(where.pop())
    # 16 conversations on 2 equal channels: both used (all on one: odds 2 ** -15), and
    # new bindings take the channels' keys in turn.
    assert {name for name, _ in placed} == {"left", "right"}
    assert len(set(placed)) >= 3


def test_users_never_share_a_binding(
    gateway: Gateway, admin: Admin, model: str, left: FakeOpenAI, right: FakeOpenAI
) -> None:
    shared_key = "same-cache-key-" + uuid.uuid4().hex
    _, key_a = user_key(admin)
    _, key_b = user_key(admin)
    chat_a = ChatConversation(sdk(gateway, key_a), model, shared_key)
    chat_b = ChatConversation(sdk(gateway, key_b), model, shared_key)
    chat_a.turn("a first")
    (where_a,) = set(served(left, right))
    bound, other = (left, right) if where_a[0] == "left" else (right, left)
    # User B, same prompt_cache_key: its first turn finds A's channel broken and binds to
    # the other one. Were the binding shared, A would move too.
    bound.reset()
    other.reset()
    bound.default = Behaviour.error(503, "busy")
    chat_b.turn("b first")
    bound.reset()
    other.reset()
    for turn in range(4):
        chat_a.turn(f"a {turn}")
    assert set(served(left, right)) == {where_a}
    left.reset()
    right.reset()
    for turn in range(4):
        chat_b.turn(f"b {turn}")
    assert {name for name, _ in served(left, right)} == {other.name}


@pytest.mark.parametrize("header", ["session_id", "session-id", "x-session-affinity"])
def test_a_session_header_binds_turns_whatever_their_prefix(
    gateway: Gateway, admin: Admin, model: str, left: FakeOpenAI, right: FakeOpenAI, header: str
) -> None:
    """Codex's and opencode's headers: turns whose conversations start differently (as after
    a compaction) still go to the session's channel, since the header names the session."""
    user_id, key = user_key(admin)
    client = sdk(gateway, key)
    session = str(uuid.uuid4())
    ids = []
    for turn in range(5):
        raw = client.chat.completions.with_raw_response.create(
            model=model,
            messages=[{"role": "user", "content": f"a different start {turn}"}],
            extra_headers={header: session},
        )
        ids.append(raw.headers["x-request-id"])
    assert len(set(served(left, right))) == 1, served(left, right)
    assert affinity_marks(gateway.settings.database_url, user_id, ids) == [0, 1, 1, 1, 1]


def test_claude_code_session_header_and_metadata_keep_translated_turns_together(
    gateway: Gateway, admin: Admin, model: str, left: FakeOpenAI, right: FakeOpenAI
) -> None:
    _, key = user_key(admin)
    claude = anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0, timeout=30)
    session = str(uuid.uuid4())
    for how in ("header", "metadata"):
        left.reset()
        right.reset()
        # The same system prompt and first message in each conversation: only the session
        # id tells them apart, and each one stays on its own channel and key.
        messages: list[dict[str, Any]] = []
        for turn in range(6):
            messages.append({"role": "user", "content": f"turn {turn}"})
            extra: dict[str, Any] = (
                {"extra_headers": {"x-claude-code-session-id": session}}
                if how == "header"
                else {"metadata": {"user_id": f"user_abc_account_def_session_{session}"}}
            )
            reply = claude.messages.create(
                model=model,
                max_tokens=100,
                system=SYSTEM,
                messages=messages,
                **extra,  # type: ignore[arg-type]
            )
            text = "".join(block.text for block in reply.content if block.type == "text")
            messages.append({"role": "assistant", "content": text})
        assert len(set(served(left, right))) == 1, (how, served(left, right))


def test_gemini_chat_turns_stay_together(
    gateway: Gateway, admin: Admin, model: str, left: FakeOpenAI, right: FakeOpenAI
) -> None:
    _, key = user_key(admin)
    options = types.HttpOptions(base_url=gateway.url, api_version="v1beta", timeout=30_000)
    client = genai.Client(api_key=key, http_options=options)
    chat = client.chats.create(
        model=model, config=types.GenerateContentConfig(system_instruction=SYSTEM)
    )
    for turn in range(6):
        assert chat.send_message(f"gemini {turn}").text == f"Hello! You said: gemini {turn}"
    assert len(left.chat_requests) + len(right.chat_requests) == 6
    assert len(set(served(left, right))) == 1, served(left, right)


# ---- settings: TTL, off; Redis shared between instances


@pytest.fixture(scope="module")
def short_ttl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    data = tmp_path_factory.mktemp("ttl")
    with Gateway(sqlite_url(data), data, affinity_ttl=2.0) as running:
        yield running


def test_a_binding_expires_after_ttl_idle_seconds(
    short_ttl: Gateway, left: FakeOpenAI, right: FakeOpenAI
) -> None:
    admin = Admin(short_ttl.url, short_ttl.admin_key)
    try:
        user_id, key = user_key(admin)
        model = two_channels(admin, left, right)
        chat = ChatConversation(sdk(short_ttl, key), model, "ttl-" + uuid.uuid4().hex)
        chat.turn("one")
        time.sleep(1.2)
        chat.turn("two")  # within the TTL: bound, and renewed for another 2 s
        time.sleep(1.2)
        chat.turn("three")  # 2.4 s after the first turn, 1.2 s after the last: still bound
        time.sleep(2.5)
        chat.turn("four")  # idle past the TTL: routed afresh
        chat.turn("five")
        marks = affinity_marks(short_ttl.settings.database_url, user_id, chat.request_ids)
        assert marks == [0, 1, 1, 0, 1]
    finally:
        admin.close()


def test_ttl_zero_turns_affinity_off(tmp_path: Path, left: FakeOpenAI, right: FakeOpenAI) -> None:
    with Gateway(sqlite_url(tmp_path), tmp_path, affinity_ttl=0.0) as running:
        admin = Admin(running.url, running.admin_key)
        try:
            user_id, key = user_key(admin)
            model = two_channels(admin, left, right)
            chat = ChatConversation(sdk(running, key), model, "off-" + uuid.uuid4().hex)
            for turn in range(20):
                chat.turn(f"t{turn}")
            # The usual weighted shuffle: both channels (all on one: odds 2 ** -19).
            assert {name for name, _ in served(left, right)} == {"left", "right"}
            marks = affinity_marks(running.settings.database_url, user_id, chat.request_ids)
            assert marks == [0] * 20
        finally:
            admin.close()


@pytest.fixture(scope="module")
def redis_pair(gateway: Gateway) -> Iterator[tuple[Gateway, Gateway]]:
    """Two more instances on the gateway's database and secret, sharing one Redis."""
    redis_url = require_redis()
    database_url, data = gateway.settings.database_url, gateway.settings.data_dir
    with (
        Gateway(database_url, data, redis_url=redis_url) as first,
        Gateway(database_url, data, redis_url=redis_url) as second,
    ):
        yield first, second


def test_a_second_instance_sees_the_binding_through_redis(
    redis_pair: tuple[Gateway, Gateway], left: FakeOpenAI, right: FakeOpenAI
) -> None:
    first, second = redis_pair
    admin = Admin(first.url, first.admin_key)
    try:
        user_id, key = user_key(admin)
        model = two_channels(admin, left, right)
        wait_for_model(second, key, model)  # the second instance picks them up
        ids: list[str] = []
        for n in range(4):
            left.reset()
            right.reset()
            on_first = ChatConversation(sdk(first, key), model, f"shared-{n}")
            on_first.turn("begin")
            on_second = ChatConversation(sdk(second, key), model, f"shared-{n}")
            for turn in range(3):
                on_second.turn(f"go on {turn}")
            where = served(left, right)
            assert len(where) == 4 and len(set(where)) == 1, (n, where)
            ids += on_second.request_ids
        # The second instance's calls went to the bound channel: it read the binding.
        marks = affinity_marks(first.settings.database_url, user_id, ids, calls=16)
        assert marks == [1] * 12
    finally:
        admin.close()


def test_calls_go_on_with_in_process_bindings_when_redis_is_down(
    tmp_path: Path, left: FakeOpenAI, right: FakeOpenAI
) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
    with Gateway(sqlite_url(tmp_path), tmp_path, redis_url=dead) as running:
        admin = Admin(running.url, running.admin_key)
        try:
            user_id, key = user_key(admin)
            model = two_channels(admin, left, right)
            chat = ChatConversation(sdk(running, key), model, "down-" + uuid.uuid4().hex)
            started = time.monotonic()
            for turn in range(10):
                assert chat.turn(f"t{turn}") == f"Hello! You said: t{turn}"
            assert time.monotonic() - started < 10
            assert len(set(served(left, right))) == 1
            marks = affinity_marks(running.settings.database_url, user_id, chat.request_ids)
            assert marks == [0] + [1] * 9
        finally:
            admin.close()
