"""A call's client extras (headers and query the surface kept) reach the upstream as the
channel's provider decides, after the channel's rules; a call without extras gets the
cached head itself, not a copy."""

from __future__ import annotations

import orjson
from support.records import channel_record

from airelay.client import Timeouts
from airelay.config import Settings
from airelay.formats.names import Endpoint, WireFormat
from airelay.providers.base import ClientExtras
from airelay.relay.attempts import build_attempt
from airelay.relay.call import Call
from airelay.store.snapshot import ChannelRecord
from airelay.transport.choice import Transports

SETTINGS = Settings()
# Attempts build no transport of their own (token requests only, for Vertex and Azure).
TRANSPORTS = Transports(Timeouts(5, 30), max_body=1 << 20, max_per_origin=16)
BODY = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


def channel(kind: str, rules: dict[str, str | None] | None = None) -> ChannelRecord:
    return channel_record(
        id=kind,
        name=kind,
        type=kind,
        base_url="http://upstream.test" + ("/v1" if kind == "openai" else ""),
        api_keys=("k-1",),
        anthropic_betas=rules,
    )


def call(extras: ClientExtras | None) -> Call:
    return Call(
        client=WireFormat.ANTHROPIC,
        endpoint=Endpoint.CHAT,
        model="m",
        stream=False,
        body=orjson.dumps(BODY),
        payload=dict(BODY),
        ir=None,
        path="/v1/messages",
        request_id="r",
        extras=extras,
    )


def head_of(target_head: bytes) -> tuple[str, dict[str, str]]:
    line, *fields = target_head.decode("latin-1").split("\r\n")
    pairs = dict(f.split(": ", 1) for f in fields if ": " in f)
    return line, {name.lower(): value for name, value in pairs.items()}


BETAS = ClientExtras({"anthropic-beta": "a-1,b-2"}, {"beta": "true"})


def test_an_anthropic_channel_gets_the_betas_rewritten_and_the_query() -> None:
    attempt = build_attempt(
        SETTINGS, TRANSPORTS, call(BETAS), channel("anthropic", {"a-1": "a-2"}), "k-1"
    )
    line, fields = head_of(attempt.target.head)
    assert line == "POST /v1/messages?beta=true HTTP/1.1"
    assert fields["anthropic-beta"] == "a-2,b-2"
    assert fields["x-api-key"] == "k-1"


def test_a_call_without_extras_gets_the_cached_head_itself() -> None:
    ch = channel("anthropic")
    first = build_attempt(SETTINGS, TRANSPORTS, call(None), ch, "k-1")
    again = build_attempt(SETTINGS, TRANSPORTS, call(None), ch, "k-1")
    assert again.target is first.target
    line, fields = head_of(first.target.head)
    assert line == "POST /v1/messages HTTP/1.1" and "anthropic-beta" not in fields
    # Extras with the query are another cached head; the betas a per-call copy of it.
    with_query = build_attempt(
        SETTINGS, TRANSPORTS, call(ClientExtras({}, {"beta": "true"})), ch, "k-1"
    )
    assert (
        with_query.target
        is build_attempt(
            SETTINGS, TRANSPORTS, call(ClientExtras({}, {"beta": "true"})), ch, "k-1"
        ).target
    )
    assert with_query.target is not first.target


def test_betas_stripped_by_the_rules_send_no_header() -> None:
    attempt = build_attempt(
        SETTINGS, TRANSPORTS, call(BETAS), channel("anthropic", {"a-1": None, "b-2": None}), "k-1"
    )
    line, fields = head_of(attempt.target.head)
    assert "anthropic-beta" not in fields and line.startswith("POST /v1/messages?beta=true ")


def test_other_upstreams_get_neither_the_header_nor_the_query() -> None:
    for kind in ("openai", "gemini"):
        attempt = build_attempt(SETTINGS, TRANSPORTS, call(BETAS), channel(kind), "k-1")
        line, fields = head_of(attempt.target.head)
        assert "anthropic-beta" not in fields, kind
        assert "beta=true" not in line, kind
