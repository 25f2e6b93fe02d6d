"""wrk: the request bodies as Lua scripts, one run, its figures."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import orjson

CHAT_PATH = "/v1/chat/completions"
MESSAGES = [{"role": "user", "content": "Say hello in one short sentence."}]
# Like the OpenAI SDK's default: no stream_options, so the gateway must ask for usage itself.
PLAIN_BODY = orjson.dumps({"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": 64})
STREAM_BODY = orjson.dumps(
    {"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": 64, "stream": True}
)
# The translated paths (streamed): an OpenAI client calling a model whose channel speaks
# Anthropic's format, and an Anthropic client calling a model of an OpenAI channel.
TRANSLATED_MODEL = "claude-bench"
TO_ANTHROPIC_BODY = orjson.dumps(
    {"model": TRANSLATED_MODEL, "messages": MESSAGES, "max_tokens": 64, "stream": True}
)
FROM_ANTHROPIC_BODY = orjson.dumps(
    {"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": 64, "stream": True}
)
MESSAGES_PATH = "/v1/messages"
# A Responses client (Codex, the Agents SDK) streaming from a model of an OpenAI chat channel.
RESPONSES_PATH = "/v1/responses"
FROM_RESPONSES_BODY = orjson.dumps(
    {
        "model": "gpt-4o-mini",
        "input": MESSAGES[0]["content"],
        "max_output_tokens": 64,
        "stream": True,
        "store": False,
    }
)
# kind -> (path, body, extra headers)
KINDS: dict[str, tuple[str, bytes, dict[str, str]]] = {
    "plain": (CHAT_PATH, PLAIN_BODY, {}),
    "stream": (CHAT_PATH, STREAM_BODY, {}),
    "openai-to-anthropic": (CHAT_PATH, TO_ANTHROPIC_BODY, {}),
    "anthropic-to-openai": (
        MESSAGES_PATH,
        FROM_ANTHROPIC_BODY,
        {"anthropic-version": "2023-06-01"},
    ),
    "responses-to-openai": (RESPONSES_PATH, FROM_RESPONSES_BODY, {}),
}
_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


@dataclass(frozen=True, slots=True)
class WrkResult:
    rps: float
    requests: int
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors + non-2xx answers


def scripts_in(work: Path, name: str, api_key: str) -> dict[str, Path]:
    """``write_scripts`` into a new folder of ``work`` named after ``name`` (one per
    server measured, each with its own key)."""
    folder = work / f"lua-{name}"
    folder.mkdir()
    return write_scripts(folder, api_key)


def write_scripts(folder: Path, api_key: str) -> dict[str, Path]:
    """A script per kind (see ``KINDS``) sending ``api_key`` as a bearer token."""
    scripts = {}
    for name, (url_path, body, headers) in KINDS.items():
        path = folder / f"{name}.lua"
        extra = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items())
        path.write_text(
            'wrk.method = "POST"\n'
            f'wrk.path = "{url_path}"\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            f'wrk.headers["Authorization"] = "Bearer {api_key}"\n'
            f"{extra}"
            f"wrk.body = '{body.decode()}'\n"
        )
        scripts[name] = path
    return scripts


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if m is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(m[1]) * _UNIT_MS[m[2]]


def run(script: Path, port: int, conns: int, seconds: float, cpus: str) -> WrkResult:
    cmd = [
        "taskset",
        "-c",
        cpus,
        "wrk",
        "-t1",
        f"-c{conns}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}{CHAT_PATH}",
    ]
    out = subprocess.run(
        cmd, capture_output=True, text=True, check=True, timeout=seconds + 30
    ).stdout
    pct = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)\s*$", out, re.M))
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in", out)
    if rps is None or count is None or set(pct) != {"50", "99"}:
        raise RuntimeError(f"cannot parse wrk output:\n{out}")
    errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return WrkResult(
        rps=float(rps[1]),
        requests=int(count[1]),
        p50_ms=_ms(pct["50"]),
        p99_ms=_ms(pct["99"]),
        errors=errors + (int(non2xx[1]) if non2xx else 0),
    )
