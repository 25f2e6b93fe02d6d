"""What Claude Code needs of the gateway, through the official ``anthropic`` SDK and fake
upstreams that record what they received: the ``anthropic-beta`` header and the
``?beta=true`` query reach Anthropic channels (rewritten or stripped by the channel's
rules) and no other upstream; cache markers (``ttl: "1h"``), ``context_management``,
thinking and redacted-thinking blocks reach an Anthropic upstream as the client sent them;
``HEAD /`` answers 200; ``count_tokens`` is the upstream's when it can be, else local."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import orjson
import pytest
from fakes.anthropic_upstream import FakeAnthropic
from fakes.gemini_upstream import FakeGemini
from fakes.loopback import Behaviour
from fakes.openai_upstream import FakeOpenAI
from support.admin import Admin, unique_model
from support.gateway import Gateway

ANTHROPIC_KEY = "sk-ant-upstream-test"
BETAS = ["interleaved-thinking-2025-05-14", "context-management-2025-06-27"]
# What a channel in front of an upstream that refuses some betas is told to do.
RULES = {"context-1m-2025-08-07": None, "fine-grained-tool-streaming-2025-05-14": "tools-2025"}
REFUSED = "context-1m-2025-08-07"


@pytest.fixture(scope="module")
def claude_fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(api_keys=(ANTHROPIC_KEY,)) as fake:
        yield fake


@pytest.fixture(scope="module")
def gemini_fake() -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _fresh(request: pytest.FixtureRequest) -> None:
    for name in ("claude_fake", "gemini_fake"):
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()


@pytest.fixture(scope="module")
def models(
    admin: Admin, claude_fake: FakeAnthropic, upstream: FakeOpenAI, gemini_fake: FakeGemini
) -> dict[str, str]:
    """One public model per kind of channel: Anthropic plain, with rules, renamed; OpenAI;
    Gemini."""
    names = {kind: unique_model(kind) for kind in ("plain", "ruled", "renamed", "openai")}
    names["gemini"] = unique_model("gemini")
    anthropic_channel = {"type": "anthropic", "base_url": claude_fake.base_url}
    admin.create_channel(**anthropic_channel, api_keys=[ANTHROPIC_KEY], models=[names["plain"]])
    created = admin.create_channel(
        **anthropic_channel,
        api_keys=[ANTHROPIC_KEY],
        models=[names["ruled"]],
        anthropic_betas=RULES,
    )
    assert created["anthropic_betas"] == RULES
    admin.create_channel(
        **anthropic_channel,
        api_keys=[ANTHROPIC_KEY],
        models=[],
        model_mapping={names["renamed"]: "claude-upstream-name"},
    )
    admin.create_channel(
        base_url=upstream.base_url, api_keys=["sk-upstream-test"], models=[names["openai"]]
    )
    admin.create_channel(
        type="gemini",
        base_url=gemini_fake.base_url,
        api_keys=["AIza-upstream-test"],
        models=[],
        model_mapping={names["gemini"]: "gemini-2.5-flash"},
    )
    return names


@pytest.fixture(scope="module")
def key(admin: Admin) -> str:
    return str(admin.create_token(admin.create_user(balance=50)["id"])["key"])


class Sent:
    """The bodies and beta headers the SDK put on the wire (an httpx event hook)."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.betas: list[str | None] = []

    def hook(self, request: Any) -> None:  # an httpx2.Request: the SDK's transport
        self.bodies.append(request.read())
        self.betas.append(request.headers.get("anthropic-beta"))


def claude(gateway: Gateway, key: str, sent: Sent | None = None) -> anthropic.Anthropic:
    hooks = {"request": [sent.hook]} if sent is not None else {}
    return anthropic.Anthropic(
        base_url=gateway.url,
        api_key=key,
        max_retries=0,
        http_client=anthropic.DefaultHttpxClient(event_hooks=hooks, timeout=30),
    )


HI: list[Any] = [{"role": "user", "content": "hi there"}]
# The TypeScript SDK that Claude Code bundles puts its beta namespace's calls on
# ``/v1/messages?beta=true``; the Python SDK 2.x keeps that mark to itself, so the tests add it.
CLI_QUERY = {"beta": "true"}


# -- anthropic-beta and ?beta=true ---------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_beta_namespace_forwards_header_and_query(
    gateway: Gateway, key: str, models: dict[str, str], claude_fake: FakeAnthropic, stream: bool
) -> None:
    client = claude(gateway, key).beta.messages
    call: dict[str, Any] = {
        "model": models["plain"],
        "max_tokens": 50,
        "messages": HI,
        "betas": BETAS,
        "extra_query": CLI_QUERY,
    }
    if stream:
        with client.stream(**call) as events:
            text = events.get_final_text()
    else:
        answer = client.create(**call)
        text = answer.content[0].text  # type: ignore[union-attr]
    assert text == "Hello! You said: hi there"
    (received,) = claude_fake.message_requests
    assert received.path == "/v1/messages?beta=true"
    assert received.headers["anthropic-beta"] == ",".join(BETAS)
    assert received.headers["x-api-key"] == ANTHROPIC_KEY  # the channel's key, not the client's
    # Without the query on the client's call, none on the upstream's.
    client.create(model=models["plain"], max_tokens=50, messages=HI, betas=BETAS)
    assert claude_fake.message_requests[-1].path == "/v1/messages"


def test_plain_call_with_a_beta_header(
    gateway: Gateway, key: str, models: dict[str, str], claude_fake: FakeAnthropic
) -> None:
    header = "prompt-caching-scope-2026-01-05, claude-code-20250219"
    answer = claude(gateway, key).messages.create(
        model=models["plain"],
        max_tokens=50,
        messages=HI,
        extra_headers={"anthropic-beta": header},
    )
    assert answer.content[0].text == "Hello! You said: hi there"  # type: ignore[union-attr]
    (received,) = claude_fake.message_requests
    assert received.path == "/v1/messages"
    assert (
        received.headers["anthropic-beta"] == "prompt-caching-scope-2026-01-05,claude-code-20250219"
    )


def test_without_betas_the_upstream_gets_no_beta_header(
    gateway: Gateway, key: str, models: dict[str, str], claude_fake: FakeAnthropic
) -> None:
    claude(gateway, key).messages.create(model=models["plain"], max_tokens=50, messages=HI)
    (received,) = claude_fake.message_requests
    assert received.path == "/v1/messages" and "anthropic-beta" not in received.headers


def test_channel_rules_strip_and_rewrite_betas_the_upstream_refuses(
    gateway: Gateway, key: str, models: dict[str, str], claude_fake: FakeAnthropic
) -> None:
    claude_fake.rejected_betas = frozenset({REFUSED})
    betas = [REFUSED, "fine-grained-tool-streaming-2025-05-14", "claude-code-20250219"]
    client = claude(gateway, key).beta.messages
    # The channel without rules passes the refused beta on: the upstream's 400 comes back.
    with pytest.raises(anthropic.BadRequestError, match="Unexpected value"):
        client.create(model=models["plain"], max_tokens=50, messages=HI, betas=betas)
    answer = client.create(model=models["ruled"], max_tokens=50, messages=HI, betas=betas)
    assert answer.content[0].text == "Hello! You said: hi there"  # type: ignore[union-attr]
    received = claude_fake.message_requests[-1]
    assert received.headers["anthropic-beta"] == "tools-2025,claude-code-20250219"
    # Every beta stripped: no header at all, the query still goes.
    client.create(
        model=models["ruled"], max_tokens=50, messages=HI, betas=[REFUSED], extra_query=CLI_QUERY
    )
    received = claude_fake.message_requests[-1]
    assert "anthropic-beta" not in received.headers and received.path.endswith("?beta=true")


@pytest.mark.parametrize("kind", ["openai", "gemini"])
@pytest.mark.parametrize("stream", [False, True])
def test_other_upstreams_get_neither_header_nor_query(
    gateway: Gateway,
    key: str,
    models: dict[str, str],
    upstream: FakeOpenAI,
    gemini_fake: FakeGemini,
    kind: str,
    stream: bool,
) -> None:
    fake = upstream if kind == "openai" else gemini_fake
    client = claude(gateway, key).beta.messages
    if stream:
        with client.stream(model=models[kind], max_tokens=50, messages=HI, betas=BETAS) as events:
            text = events.get_final_text()
    else:
        answer = client.create(model=models[kind], max_tokens=50, messages=HI, betas=BETAS)
        text = answer.content[0].text  # type: ignore[union-attr]
    assert text == "Hello! You said: hi there"
    (received,) = fake.requests
    assert "anthropic-beta" not in received.headers
    assert "beta=true" not in received.path


def test_a_beta_that_cannot_be_a_name_is_a_400(
    gateway: Gateway, key: str, models: dict[str, str], claude_fake: FakeAnthropic
) -> None:
    with pytest.raises(anthropic.BadRequestError, match="not a beta name"):
        claude(gateway, key).messages.create(
            model=models["plain"],
            max_tokens=50,
            messages=HI,
            extra_headers={"anthropic-beta": "ok-1, no spaces allowed"},
        )
    assert claude_fake.requests == []


# -- the body as the client sent it ----------------------------------------------------------

SYSTEM = [
    {
        "type": "text",
        "text": "You are Claude Code.",
        "cache_control": {"type": "ephemeral", "ttl": "1h"},
    }
]
TOOLS = [
    {
        "name": "Read",
        "description": "Read a file",
        "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
        "cache_control": {"type": "ephemeral", "ttl": "1h"},
    }
]
HISTORY: list[Any] = [
    {"role": "user", "content": [{"type": "text", "text": "read a.txt"}]},
    {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "I should read it.", "signature": "EqQBsig+/=="},
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"},
            {"type": "tool_use", "id": "toolu_01A", "name": "Read", "input": {"path": "a.txt"}},
        ],
    },
    {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "toolu_01A",
                "content": "hello from a.txt",
                "cache_control": {"type": "ephemeral"},
            }
        ],
    },
]
CONTEXT_MANAGEMENT = {
    "edits": [
        {"type": "clear_tool_uses_20250919", "trigger": {"type": "input_tokens", "value": 30000}}
    ]
}
THINKING = {"type": "enabled", "budget_tokens": 2048}
FIDELITY_BETAS = ["context-management-2025-06-27", "interleaved-thinking-2025-05-14"]


def _agent_turn(client: anthropic.Anthropic, model: str, *, stream: bool) -> str:
    kwargs: dict[str, Any] = {
        "model": model,
        "max_tokens": 4096,
        "system": SYSTEM,
        "tools": TOOLS,
        "messages": HISTORY,
        "thinking": THINKING,
        "context_management": CONTEXT_MANAGEMENT,
        "betas": FIDELITY_BETAS,
        "metadata": {"user_id": "user_abc_account_x_session_y"},
    }
    if stream:
        with client.beta.messages.stream(**kwargs, extra_query=CLI_QUERY) as events:
            return events.get_final_text()
    answer = client.beta.messages.create(**kwargs, extra_query=CLI_QUERY)
    return "".join(b.text for b in answer.content if b.type == "text")


@pytest.mark.parametrize("stream", [False, True])
def test_agent_turn_reaches_the_upstream_byte_for_byte(
    gateway: Gateway, key: str, models: dict[str, str], claude_fake: FakeAnthropic, stream: bool
) -> None:
    sent = Sent()
    text = _agent_turn(claude(gateway, key, sent), models["plain"], stream=stream)
    assert text == "Tool said: hello from a.txt"
    (body,) = sent.bodies
    (received,) = claude_fake.message_requests
    assert received.raw == body
    document = orjson.loads(received.raw)
    assert document["system"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert document["context_management"] == CONTEXT_MANAGEMENT
    assert document["messages"][1]["content"][:2] == HISTORY[1]["content"][:2]
    assert received.headers["anthropic-beta"] == ",".join(FIDELITY_BETAS)


def test_a_renamed_model_changes_only_the_model(
    gateway: Gateway, key: str, models: dict[str, str], claude_fake: FakeAnthropic
) -> None:
    sent = Sent()
    _agent_turn(claude(gateway, key, sent), models["renamed"], stream=False)
    (received,) = claude_fake.message_requests
    client_body, upstream_body = orjson.loads(sent.bodies[0]), orjson.loads(received.raw)
    assert upstream_body.pop("model") == "claude-upstream-name"
    client_body.pop("model")
    assert upstream_body == client_body
    assert list(upstream_body) == list(client_body)  # the fields in the client's order


def test_thinking_answer_keeps_its_signature(
    gateway: Gateway, admin: Admin, key: str, claude_fake: FakeAnthropic
) -> None:
    """An answer's thinking block comes back with its signature, whole and streamed, so
    the next turn can send it back (the test above)."""
    model = "claude-think-4"
    admin.create_channel(
        type="anthropic",
        base_url=claude_fake.base_url,
        api_keys=[ANTHROPIC_KEY],
        models=[],
        model_mapping={(public := unique_model("think")): model},
    )
    client = claude(gateway, key)
    whole = client.messages.create(model=public, max_tokens=200, messages=HI, thinking=THINKING)  # type: ignore[arg-type]
    assert whole.content[0].type == "thinking"
    assert whole.content[0].signature == "EqQBCgIYAhIMfakeSignature0123"
    with client.messages.stream(
        model=public,
        max_tokens=200,
        messages=HI,
        thinking=THINKING,  # type: ignore[arg-type]
    ) as events:
        final = events.get_final_message()
    assert final.content[0].type == "thinking"
    assert final.content[0].signature == "EqQBCgIYAhIMfakeSignature0123"


# -- HEAD / ------------------------------------------------------------------------------------


def test_head_root_answers_200_without_a_key(gateway: Gateway) -> None:
    response = httpx.head(gateway.url + "/", timeout=10)
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers.get("x-request-id")
    # GET / is not broken by it: still an answer in the error shape, not a 500.
    assert httpx.get(gateway.url + "/", timeout=10).status_code < 500


# -- count_tokens ------------------------------------------------------------------------------

# Two words for the fake (which counts words), many more for any tokenizer.
LONG_WORDS = [
    {"role": "user", "content": "supercalifragilisticexpialidocious antidisestablishmentarianism"}
]


def test_count_tokens_asks_an_anthropic_upstream(
    gateway: Gateway, key: str, models: dict[str, str], claude_fake: FakeAnthropic
) -> None:
    sent = Sent()
    client = claude(gateway, key, sent)
    counted = client.beta.messages.count_tokens(
        model=models["renamed"], messages=LONG_WORDS, betas=BETAS, extra_query=CLI_QUERY
    )
    assert counted.input_tokens == 2
    (received,) = claude_fake.requests
    assert received.path == "/v1/messages/count_tokens?beta=true"
    # The SDK adds a beta of its own to count calls: whatever it sent arrives.
    assert sent.betas[0] is not None and set(BETAS) <= set(sent.betas[0].split(","))
    assert received.headers["anthropic-beta"] == sent.betas[0]
    assert received.headers["x-api-key"] == ANTHROPIC_KEY
    assert received.body == {"model": "claude-upstream-name", "messages": LONG_WORDS}
    # The local count of the same messages (an OpenAI channel's model) is another number.
    local = client.messages.count_tokens(model=models["openai"], messages=LONG_WORDS)
    assert local.input_tokens > 2
    assert len(claude_fake.requests) == 1


def test_count_tokens_applies_the_channel_rules(
    gateway: Gateway, key: str, models: dict[str, str], claude_fake: FakeAnthropic
) -> None:
    claude_fake.rejected_betas = frozenset({REFUSED})
    sent = Sent()
    counted = claude(gateway, key, sent).beta.messages.count_tokens(
        model=models["ruled"], messages=LONG_WORDS, betas=[REFUSED, "claude-code-20250219"]
    )
    assert counted.input_tokens == 2
    assert sent.betas[0] is not None and sent.betas[0].startswith(REFUSED + ",")
    expected = sent.betas[0].removeprefix(REFUSED + ",")
    assert claude_fake.requests[-1].headers["anthropic-beta"] == expected


def _local_count(client: anthropic.Anthropic, models: dict[str, str]) -> int:
    return client.messages.count_tokens(model=models["openai"], messages=LONG_WORDS).input_tokens  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "failure",
    [Behaviour.error(500, "boom"), Behaviour.error(400, "bad"), Behaviour.drop_after(0)],
    ids=["500", "400", "cut"],
)
def test_count_tokens_falls_back_to_the_local_count(
    gateway: Gateway,
    key: str,
    models: dict[str, str],
    claude_fake: FakeAnthropic,
    failure: Behaviour,
) -> None:
    client = claude(gateway, key)
    claude_fake.script(failure)
    counted = client.messages.count_tokens(model=models["plain"], messages=LONG_WORDS)
    assert claude_fake.requests  # it was asked
    assert counted.input_tokens == _local_count(client, models) > 2


def test_count_tokens_does_not_wait_past_the_channel_timeout(
    gateway: Gateway, admin: Admin, key: str, models: dict[str, str], claude_fake: FakeAnthropic
) -> None:
    public = unique_model("slow")
    admin.create_channel(
        type="anthropic",
        base_url=claude_fake.base_url,
        api_keys=[ANTHROPIC_KEY],
        models=[public],
        timeout=0.5,
    )
    client = claude(gateway, key)
    claude_fake.script(Behaviour.slow(3))
    started = time.monotonic()
    counted = client.messages.count_tokens(model=public, messages=LONG_WORDS)
    assert time.monotonic() - started < 2.5
    assert counted.input_tokens == _local_count(client, models)


def test_count_tokens_of_an_unknown_model_is_404(gateway: Gateway, key: str) -> None:
    with pytest.raises(anthropic.NotFoundError):
        claude(gateway, key).messages.count_tokens(model="no-such-model", messages=LONG_WORDS)  # type: ignore[arg-type]
