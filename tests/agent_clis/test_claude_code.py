"""Claude Code (`claude -p`) through the gateway: a tool-using turn against an Anthropic
channel (bytes passed through) and against an OpenAI channel (translated)."""

from __future__ import annotations

from pathlib import Path

import pytest
from agent_clis.clis import Setup, cli, run


def claude(setup: Setup, model: str, home: Path, project: Path, prompt: str) -> str:
    done = run(
        [str(cli("claude")), "-p", prompt, "--model", model, "--allowedTools", "Read"],
        env={
            "HOME": str(home),
            "ANTHROPIC_BASE_URL": setup.gateway.url,
            "ANTHROPIC_API_KEY": setup.key,
            # Every side request (a title, a quick check) goes to the same model.
            "ANTHROPIC_DEFAULT_HAIKU_MODEL": model,
            "ANTHROPIC_SMALL_FAST_MODEL": model,
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_AUTOUPDATER": "1",
        },
        cwd=project,
    )
    assert done.returncode == 0, done.output
    return done.output


@pytest.mark.parametrize("channel", ["anthropic", "openai"])
def test_a_tool_using_turn(setup: Setup, workdir: tuple[Path, Path, str], channel: str) -> None:
    home, project, secret = workdir
    model = setup.models[channel]
    start = len(setup.upstream.seen)
    output = claude(setup, model, home, project, f"READ_FILE {project / 'secret.txt'}")
    assert "FILE SAYS:" in output and secret in output
    calls = [s for s in setup.upstream.seen[start:] if s.body.get("model") == model]
    # The model asked for the tool, then got its result: two calls at least, both billed.
    assert len(calls) >= 2
    rows = setup.admin.http.get(
        "/v1/admin/usage", params={"user_id": setup.user_id, "model": model}
    ).json()
    assert rows["total"] >= 2 and all(r["cost"] > 0 for r in rows["usage"])
