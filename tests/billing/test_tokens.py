"""Offline token counts: OpenAI's encodings built from the rank files this package ships, exact
against published token ids, lazy, thread-safe, and never touching the network."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import fnmatch
import gzip
import pickle
import subprocess
import sys
import textwrap
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

import hypothesis
import hypothesis.strategies as st
import pytest

import airelay
from airelay.billing import tokenizer, tokens
from airelay.billing.tokenizer import TokenizerUnavailable
from airelay.billing.tokens import (
    AUDIO_TOKENS_PER_SECOND,
    IMAGE_TOKENS,
    count_messages,
    count_text,
    estimate_tokens,
    family_of,
    prompt_upper_bound,
)
from airelay.formats.ir import (
    Audio,
    ChatRequest,
    Image,
    Message,
    Reasoning,
    Text,
    Tool,
    ToolCall,
    ToolResult,
)

# Token ids published with tiktoken (tests/test_encoding.py: "hello world", "rer", "'rer",
# "today\n \n", " \x850", "👍" for cl100k) and by tokenizer ports checked against tiktoken
# (gpt-tokenizer's reference vectors as quoted in turbotoken's tests; a tiktoken port's
# verify table for " 日本語とEnglish 12345!\n", "a\n\n", "<|endoftext|>", "!hello1234567").
O200K_VECTORS = [
    ("hello world", [24912, 2375]),
    ("This is some text", [2500, 382, 1236, 2201]),
    ("hello 👋 world 🌍", [24912, 61138, 233, 2375, 130321, 235]),
    (" 日本語とEnglish 12345!\n", [17428, 40909, 5330, 28881, 220, 7633, 2548, 4175]),
    ("\x1ca", [216, 64]),
    ("a\n\n", [64, 279]),
    ("<|endoftext|>", [27, 91, 419, 1440, 919, 91, 29]),
]
CL100K_VECTORS = [
    ("hello world", [15339, 1917]),
    ("This is some text", [2028, 374, 1063, 1495]),
    ("hello 👋 world 🌍", [15339, 62904, 233, 1917, 11410, 234, 235]),
    (
        " 日本語とEnglish 12345!\n",
        [76502, 22656, 45918, 252, 19732, 23392, 220, 4513, 1774, 4999],
    ),
    ("rer", [38149]),
    ("'rer", [2351, 81]),
    ("today\n \n", [31213, 27907]),
    ("today\n  \n", [31213, 14211]),
    (" \x850", [220, 126, 227, 15]),
    ("👍", [9468, 239, 235]),
    ("a\n\n", [64, 271]),
    ("<|endoftext|>", [27, 91, 8862, 728, 428, 91, 29]),
    ("!hello1234567", [0, 15339, 4513, 10961, 22]),
]

PROSE = (
    "Artificial intelligence refers to the ability of computers to reason. Its history can "
    "be traced back to the 1950s!\nToday it's applied in medicine, finance and robotics "
    "(see https://example.com/a/b?c=1).  Indented:\n    def f(x): return x ** 2\n"
    "人工智能是指使计算机具有智慧的能力。 它的历史可以追溯到20世纪50年代。 "
    "Émilie a dit « oui ».\n\n"
)


def run_python(code: str) -> str:
    """Run ``code`` in a fresh interpreter (fresh module state), return its stdout."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


# ---- exact counts ------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "ids"), O200K_VECTORS)
def test_o200k_matches_published_token_ids(text: str, ids: list[int]) -> None:
    assert tokenizer.encoding("o200k_base").encode_ordinary(text) == ids
    assert count_text(text) == count_text(text, "gpt-4o") == len(ids)


@pytest.mark.parametrize(("text", "ids"), CL100K_VECTORS)
def test_cl100k_matches_published_token_ids(text: str, ids: list[int]) -> None:
    assert tokenizer.encoding("cl100k_base").encode_ordinary(text) == ids
    assert count_text(text, "gpt-4") == count_text(text, "gpt-3.5-turbo") == len(ids)


def test_hello_world_is_two_tokens_in_both() -> None:
    assert count_text("hello world", "gpt-4o") == 2
    assert count_text("hello world", "gpt-4-turbo") == 2


def test_cjk_text() -> None:
    text = "人工智能是指使计算机具有智慧的能力。"
    o200k, cl100k = count_text(text, "gpt-4o"), count_text(text, "gpt-4")
    assert 0 < o200k < cl100k <= len(text.encode())  # o200k is the better CJK encoding
    assert estimate_tokens(text, "gpt-4o") == o200k


def test_empty_text() -> None:
    assert count_text("") == 0
    assert count_text("", "claude-opus-4-7") == 0
    assert estimate_tokens("") == 0
    assert tokenizer.count("", "cl100k_base") == 0


def test_special_token_text_counts_as_ordinary_text() -> None:
    assert count_text("hello <|endoftext|> <|endofprompt|>") > 3  # no error, not one token


def test_rank_files_are_openais() -> None:
    """The decompressed files carry the SHA-256 tiktoken pins for OpenAI's published ones."""
    for spec in tokenizer.SPECS.values():
        assert len(tokenizer.read_ranks(spec)) == spec.n_ranks
    corrupt = dataclasses.replace(tokenizer.SPECS["cl100k_base"], sha256="0" * 64)
    with pytest.raises(TokenizerUnavailable, match="does not hold"):
        tokenizer.read_ranks(corrupt)


def test_ranks_are_the_line_order_of_the_files() -> None:
    """What ``read_ranks`` relies on to skip the rank column: in the pinned files, the rank
    of each token is its line number."""
    for spec in tokenizer.SPECS.values():
        data = gzip.decompress(tokenizer._data_file(spec.name).read_bytes())
        parsed = {
            base64.b64decode(token): int(rank)
            for token, rank in (line.split() for line in data.splitlines() if line)
        }
        assert parsed == tokenizer.read_ranks(spec)


def test_patterns_and_special_tokens_match_installed_tiktoken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Our copies of openai_public's constants, checked by running its constructors with
    the downloader replaced (it must never run for real)."""
    from tiktoken_ext import openai_public  # type: ignore[import-untyped]

    requested: dict[str, str | None] = {}

    def fake_load(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        requested[url.rsplit("/", 1)[-1]] = expected_hash
        return {}

    monkeypatch.setattr(openai_public, "load_tiktoken_bpe", fake_load)
    for name, spec in tokenizer.SPECS.items():
        constructor: Any = openai_public.ENCODING_CONSTRUCTORS[name]
        definition = constructor()
        assert definition["pat_str"] == spec.pattern
        assert definition["special_tokens"] == spec.special_tokens
        assert requested[f"{name}.tiktoken"] == spec.sha256


# ---- model families ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("gpt-4o", "openai-o200k"),
        ("gpt-4o-mini-2024-07-18", "openai-o200k"),
        ("chatgpt-4o-latest", "openai-o200k"),
        ("gpt-4.1-nano", "openai-o200k"),
        ("gpt-5", "openai-o200k"),
        ("o1", "openai-o200k"),
        ("o3-mini", "openai-o200k"),
        ("o4-mini-2025-04-16", "openai-o200k"),
        ("gpt-oss-120b", "openai-o200k"),
        ("openai/gpt-4o", "openai-o200k"),
        ("ft:gpt-4o-mini:acme::abc123", "openai-o200k"),
        ("gpt-4", "openai-cl100k"),
        ("gpt-4-turbo-2024-04-09", "openai-cl100k"),
        ("gpt-3.5-turbo", "openai-cl100k"),
        ("gpt-35-turbo", "openai-cl100k"),
        ("text-embedding-3-small", "openai-cl100k"),
        ("claude-3-5-sonnet-20241022", "claude"),
        ("claude-sonnet-4-20250514", "claude"),
        ("claude-opus-4-1", "claude"),
        ("claude-sonnet-4-6", "claude"),
        ("anthropic.claude-3-5-sonnet-20240620-v1:0", "claude"),
        ("claude-haiku-4-5@20251001", "claude"),
        ("claude-opus-4-7", "claude-4.7+"),
        ("claude-opus-4.7", "claude-4.7+"),
        ("anthropic/claude-opus-5", "claude-4.7+"),
        ("claude-latest", "claude-4.7+"),
        ("gemini-2.5-pro", "gemini"),
        ("models/gemini-2.0-flash", "gemini"),
        ("gemma-3-27b-it", "gemini"),
        ("deepseek-chat", "deepseek-qwen-glm-kimi"),
        ("Qwen/Qwen2.5-72B-Instruct", "deepseek-qwen-glm-kimi"),
        ("qwq-32b", "deepseek-qwen-glm-kimi"),
        ("glm-4.5", "deepseek-qwen-glm-kimi"),
        ("kimi-k2", "deepseek-qwen-glm-kimi"),
        ("moonshot-v1-8k", "deepseek-qwen-glm-kimi"),
        ("my-local-model", "default"),
        ("omega-1", "default"),
        (None, "default"),
        ("", "default"),
    ],
)
def test_family_of(model: str | None, family: str) -> None:
    assert family_of(model).name == family


def test_factors_scale_the_o200k_count_rounding_up() -> None:
    base = count_text(PROSE, "gpt-4o")
    assert count_text(PROSE, "my-local-model") == base
    for model, percent in [
        ("claude-3-5-sonnet", 120),
        ("claude-opus-4-7", 160),
        ("gemini-2.5-pro", 110),
        ("deepseek-chat", 110),
    ]:
        assert count_text(PROSE, model) == -(-base * percent // 100)
    assert count_text("hello world", "claude-3-haiku") == 3  # 2.4 rounds up


# ---- chunking ----------------------------------------------------------------------------


@hypothesis.given(
    st.text(
        alphabet=st.sampled_from(list("ab ZÉ19 \n\t\r'\u2019.,!/-_中語\u0301\u00a0🙂")), max_size=40
    )
)
@hypothesis.settings(max_examples=300, deadline=None)
def test_exact_cuts_do_not_change_the_count(text: str) -> None:
    for name in tokenizer.SPECS:
        whole = tokenizer.count(text, name)
        for i in range(len(text)):
            if tokenizer.is_exact_cut(text, i):
                assert tokenizer.count(text[:i], name) + tokenizer.count(text[i:], name) == whole


def test_chunked_count_is_exact_on_prose() -> None:
    text = PROSE * 40
    for name in tokenizer.SPECS:
        enc = tokenizer.encoding(name)
        pieces = tokenizer.chunks(text, 120)
        assert "".join(pieces) == text and max(map(len, pieces)) <= 120 and len(pieces) > 100
        assert sum(len(enc.encode_ordinary(p)) for p in pieces) == len(enc.encode_ordinary(text))
        assert tokenizer.count(text, name) == len(enc.encode_ordinary(text))


def test_pathological_runs_do_not_break_tiktoken() -> None:
    """A megabyte of spaces makes tiktoken's regex overflow (a Rust panic) when encoded
    whole; in chunks it counts, close to the 128-spaces-per-token truth."""
    spaces = " " * 1_000_000
    assert abs(count_text(spaces, "gpt-4o") - 1_000_000 / 128) < 200
    assert count_text(spaces, "gpt-4") > 0
    assert count_text("x" * 300_000 + "\n" * 100_000, "gpt-4o") > 0


def test_a_panicking_chunk_is_counted_by_its_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    class Panic(BaseException):
        pass

    class Exploding:
        def encode_ordinary(self, text: str) -> list[int]:
            raise Panic

    monkeypatch.setitem(tokenizer._loaded, "o200k_base", Exploding())
    assert count_text("héllo") == len("héllo".encode())


# ---- loading -----------------------------------------------------------------------------


def test_loading_is_lazy() -> None:
    out = run_python(
        """
        import sys
        from airelay.billing import tokenizer, tokens
        print("tiktoken" in sys.modules, tokenizer.is_loaded("o200k_base"))
        assert tokens.count_text("hello world") == 2
        print(tokenizer.is_loaded("o200k_base"), tokenizer.is_loaded("cl100k_base"))
        print("requests" in sys.modules, "tiktoken_ext.openai_public" in sys.modules)
        """
    )
    assert out.split("\n")[:3] == ["False False", "True False", "False False"]


def test_no_network_access_during_first_load() -> None:
    out = run_python(
        """
        import socket, urllib.request
        attempts = []
        def refuse(*args, **kwargs):
            attempts.append(args)
            raise OSError("network access in a test")
        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        urllib.request.urlopen = refuse
        import tiktoken, tiktoken.load, tiktoken.registry
        tiktoken.get_encoding = tiktoken.registry.get_encoding = refuse
        tiktoken.load.read_file = tiktoken.load.read_file_cached = refuse
        from airelay.billing import tokens
        assert tokens.count_text("hello world", "gpt-4o") == 2
        assert tokens.count_text("hello world", "gpt-4") == 2
        assert tokens.estimate_tokens("hello world", "claude-opus-4-7") == 4
        print(len(attempts))
        """
    )
    assert out.strip() == "0"


def test_importing_tiktoken_does_no_network_io() -> None:
    out = run_python(
        """
        import sys
        import tiktoken
        print(sorted(m for m in ("requests", "urllib3", "http.client", "socket",
                                 "tiktoken_ext.openai_public") if m in sys.modules))
        """
    )
    assert out.strip() == "[]"


def test_concurrent_first_use_loads_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokenizer, "_loaded", {})
    built: list[object] = []

    def slow_build(spec: tokenizer.EncodingSpec) -> object:
        time.sleep(0.05)
        built.append(object())
        return built[-1]

    monkeypatch.setattr(tokenizer, "_build", slow_build)
    barrier = threading.Barrier(8)
    got: list[object] = []

    def use() -> None:
        barrier.wait()
        got.append(tokenizer.encoding("o200k_base"))

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(built) == 1 and got == built * 8


def test_rank_files_are_package_data() -> None:
    """The files sit in the airelay package and the wheel's package-data globs take them."""
    package = Path(airelay.__file__).parent
    with open(package.parents[1] / "pyproject.toml", "rb") as fh:
        globs = tomllib.load(fh)["tool"]["setuptools"]["package-data"]["airelay"]
    for name in tokenizer.SPECS:
        path = tokenizer._data_file(name)
        assert path.is_file() and path.is_relative_to(package)
        relative = path.relative_to(package).as_posix()
        assert any(fnmatch.fnmatchcase(relative, glob) for glob in globs), relative


def test_missing_data_falls_back_to_a_character_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> Any:
        raise TokenizerUnavailable("gone")

    monkeypatch.setattr(tokenizer, "_loaded", {})
    monkeypatch.setattr(tokenizer, "_failed", {})
    monkeypatch.setattr(tokenizer, "_data_file", missing)
    monkeypatch.setattr(tokens, "_warned", False)
    with pytest.raises(TokenizerUnavailable):
        count_text("hello world")
    assert estimate_tokens("hello world, 你好") == 4 + 2  # 13 ASCII chars / 4, 2 CJK chars
    assert tokens._warned


def test_encodings_refuse_pickling() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(tokenizer.encoding("o200k_base"))


def test_prompt_upper_bound_is_unchanged() -> None:
    assert prompt_upper_bound(0) == 0
    assert prompt_upper_bound(1) == 1
    assert prompt_upper_bound(300) == 100
    assert prompt_upper_bound(301) == 101
    assert prompt_upper_bound(301, 2) == 151


# ---- billing counts off the event loop ------------------------------------------------


def varied_text(chars: int) -> str:
    """Text across many scripts and symbols: the slowest to count (about 9 ms per 16 K
    characters), so a count of 300 K characters takes a good part of a second inline."""
    return "".join(chr(0x20 + (i * 7919) % 0x2FE0) for i in range(chars))


def test_short_billing_counts_are_made_at_once() -> None:
    got: list[list[int]] = []
    tokens.estimate_tokens_then(("hello world", ""), "gpt-4o", got.append)
    assert got == [[2, 0]]


def test_a_long_billing_count_leaves_the_event_loop_running() -> None:
    """The count runs off the loop: the loop goes on ticking meanwhile, and the callback
    comes on the loop with the exact count."""
    text = varied_text(300_000)
    expected = estimate_tokens(text, "gpt-4o")

    async def main() -> tuple[list[int], int, bool]:
        ticks = 0
        done = asyncio.Event()
        got: list[tuple[list[int], int, bool]] = []

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                await asyncio.sleep(0.001)
                ticks += 1

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0.01)
        ticks = 0
        loop_thread = threading.get_ident()

        def then(counts: list[int]) -> None:
            got.append((counts, ticks, threading.get_ident() == loop_thread))
            done.set()

        tokens.estimate_tokens_then((text,), "gpt-4o", then)
        assert got == []  # not counted inline
        await asyncio.wait_for(done.wait(), 60)
        await task
        return got[0]

    counts, ticks, on_loop = asyncio.run(main())
    assert counts == [expected]
    assert on_loop
    assert ticks >= 3  # inline, the loop could not have ticked once


def test_settled_waits_for_the_counts_off_the_loop() -> None:
    text = varied_text(20_000)

    async def main() -> list[list[int]]:
        got: list[list[int]] = []
        tokens.estimate_tokens_then((text, "hi"), "gpt-4", got.append)
        assert got == []
        await tokens.settled()
        return got

    assert asyncio.run(main()) == [[estimate_tokens(text, "gpt-4"), 1]]


def test_an_encoding_not_loaded_here_is_counted_off_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Even a short text: its first count would load the encoding on the loop."""
    monkeypatch.setattr(tokenizer, "is_ready", lambda name: False)

    async def main() -> list[list[int]]:
        got: list[list[int]] = []
        tokens.estimate_tokens_then(("hello world",), "gpt-4o", got.append)
        assert got == []
        await tokens.settled()
        return got

    assert asyncio.run(main()) == [[2]]


def test_a_failed_count_off_the_loop_bills_the_character_estimate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(texts: object, encoding: object) -> list[int]:
        raise RuntimeError("boom")

    monkeypatch.setattr(tokens, "count_texts", broken)

    async def main() -> list[list[int]]:
        got: list[list[int]] = []
        tokens.estimate_tokens_then(("a" * 4000, "你好"), None, got.append)
        await tokens.settled()
        return got

    assert asyncio.run(main()) == [[1000, 2]]


def test_without_an_event_loop_a_long_count_is_made_at_once() -> None:
    text = varied_text(5_000)
    got: list[list[int]] = []
    tokens.estimate_tokens_then((text,), None, got.append)
    assert got == [[estimate_tokens(text)]]


# ---- chat requests -----------------------------------------------------------------------


def counted(request: ChatRequest) -> int:
    """``count_messages`` as a caller gets it: counted by the counting process."""

    async def main() -> int:
        try:
            return await count_messages(request)
        finally:
            await tokens.settled()  # the counting process ends with the loop

    return asyncio.run(main())


def test_count_messages_one_user_message() -> None:
    request = ChatRequest(model="gpt-4o", messages=[Message("user", [Text("hello world")])])
    assert counted(request) == 3 + (3 + 1 + 2)  # priming + framing, role, text


def test_count_messages_empty_request() -> None:
    assert counted(ChatRequest(model="gpt-4o", messages=[])) == 3


def test_count_messages_with_tools_images_and_results() -> None:
    tool = Tool(
        name="get_weather",
        description="Weather for a city",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}},
    )
    request = ChatRequest(
        model="gpt-4o",
        messages=[
            Message("system", [Text("You are concise.")]),
            Message("user", [Text("hello world"), Image(url="https://example.com/a.png")]),
            Message(
                "assistant",
                [Reasoning("Need weather."), ToolCall("call_1", "get_weather", '{"city":"Paris"}')],
            ),
            Message("tool", [ToolResult("call_1", [Text("18C, sunny")], name="get_weather")]),
        ],
        tools=[tool],
    )
    texts = [
        "You are concise.",
        "hello world",
        "Need weather.",
        "get_weather",
        '{"city":"Paris"}',
        "get_weather",
        "18C, sunny",
        '{"name":"get_weather","description":"Weather for a city",'
        '"parameters":{"type":"object","properties":{"city":{"type":"string"}}}}',
    ]
    expected = 3 + 4 * (3 + 1) + IMAGE_TOKENS + sum(count_text(t) for t in texts)
    assert count_text("You are concise.") == 4
    assert counted(request) == expected

    # Other families scale the text only, once, rounding up; framing and images stay fixed.
    claude = dataclasses.replace(request, model="claude-sonnet-4-5")
    raw_text = sum(count_text(t) for t in texts)
    assert counted(claude) == 3 + 4 * 4 + IMAGE_TOKENS + -(-raw_text * 120 // 100)


def test_count_messages_uses_the_models_encoding() -> None:
    text = "人工智能是指使计算机具有智慧的能力。"
    for model in ("gpt-4o", "gpt-4"):
        request = ChatRequest(model=model, messages=[Message("user", [Text(text)])])
        assert counted(request) == 3 + 4 + count_text(text, model)


def test_count_messages_response_format_and_audio() -> None:
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    audio = Audio(data="A" * 64_000, format="mp3")  # 48,000 bytes: 3 s at 128 kbit/s
    request = ChatRequest(
        model="gpt-4o", messages=[Message("user", [audio])], response_format=schema
    )
    schema_json = '{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}}'
    assert counted(request) == (3 + 4 + 3 * AUDIO_TOKENS_PER_SECOND + count_text(schema_json))
