"""opencode (`opencode run`) through the gateway: its Anthropic provider against an
Anthropic channel (bytes passed through) and its OpenAI-compatible provider against Anthropic
and OpenAI channels, each with a tool-using turn."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from agent_clis.clis import Setup, cli, run

# opencode's provider (what it speaks to the gateway) -> its package in opencode's config
PROVIDERS = {"anthropic": None, "openai": "@ai-sdk/openai-compatible"}


def opencode(
    setup: Setup,
    provider: str,
    model: str,
    home: Path,
    project: Path,
    prompt: str,
    options: dict[str, object] | None = None,
) -> str:
    name = "anthropic" if provider == "anthropic" else "airelay"
    entry: dict[str, object] = {"name": model}
    if options:
        entry["options"] = options  # the model's provider options (reasoningEffort...)
    config: dict[str, object] = {
        "options": {"baseURL": setup.gateway.url + "/v1", "apiKey": setup.key},
        "models": {model: entry},
    }
    if PROVIDERS[provider]:
        config |= {"npm": PROVIDERS[provider], "name": name}
    (project / "opencode.json").write_text(
        json.dumps({"provider": {name: config}, "share": "disabled", "autoupdate": False})
    )
    done = run(
        [str(cli("opencode")), "run", "--pure", "-m", f"{name}/{model}", prompt],
        env={"HOME": str(home), "OPENCODE_DISABLE_AUTOUPDATE": "1"},
        cwd=project,
        timeout=120,
    )
    assert done.returncode == 0, done.output
    return done.output


@pytest.mark.parametrize(
    ("provider", "channel"),
    [("anthropic", "anthropic"), ("openai", "anthropic"), ("openai", "openai")],
)
def test_a_tool_using_turn(
    setup: Setup, workdir: tuple[Path, Path, str], provider: str, channel: str
) -> None:
    home, project, secret = workdir
    model = setup.models[channel]
    start = len(setup.upstream.seen)
    output = opencode(setup, provider, model, home, project, f"READ_FILE {project / 'secret.txt'}")
    assert "FILE SAYS:" in output and secret in output
    calls = [s for s in setup.upstream.seen[start:] if s.body.get("model") == model]
    assert len(calls) >= 2
    rows = setup.admin.http.get(
        "/v1/admin/usage", params={"user_id": setup.user_id, "model": model}
    ).json()
    assert rows["total"] >= 2 and all(r["cost"] > 0 for r in rows["usage"])


def test_thinking_is_still_asked_for_after_a_tool_call(
    setup: Setup, workdir: tuple[Path, Path, str]
) -> None:
    """opencode's OpenAI-compatible provider sends the reasoning back as text only (no
    signature): the turn after its tool call, translated for Anthropic, still asks for
    thinking (Anthropic's rule for a tool loop without signed thinking is met by the
    gateway, not by switching thinking off)."""
    home, project, secret = workdir
    model = setup.models["anthropic"]
    start = len(setup.upstream.seen)
    output = opencode(
        setup,
        "openai",
        model,
        home,
        project,
        f"READ_FILE {project / 'secret.txt'}",
        options={"reasoningEffort": "high"},
    )
    assert secret in output
    calls = [s.body for s in setup.upstream.seen[start:] if s.body.get("model") == model]
    assert len(calls) >= 2
    after_tool = [c for c in calls if "tool_result" in json.dumps(c["messages"][-1])]
    told = [c for c in calls if "[called the tool" in json.dumps(c["messages"])]
    assert after_tool or told
    assert all(c.get("thinking") == {"type": "enabled", "budget_tokens": 16384} for c in calls)
