"""Codex CLI (`codex exec`) through the gateway. Codex speaks only the Responses API: a
tool-using turn against a channel that serves Responses natively (bytes passed through)
and against chat-only channels (OpenAI chat and Anthropic, translated)."""

from __future__ import annotations

from pathlib import Path

import pytest
from agent_clis.clis import Setup, cli, run


def codex(setup: Setup, model: str, home: Path, project: Path, prompt: str) -> str:
    provider = (
        f'{{name="airelay",base_url="{setup.gateway.url}/v1",'
        'env_key="AIRELAY_API_KEY",wire_api="responses"}'
    )
    done = run(
        [
            str(cli("codex")),
            "exec",
            "--skip-git-repo-check",
            "-C",
            str(project),
            "-c",
            "model_provider=airelay",
            "-c",
            f"model_providers.airelay={provider}",
            "-m",
            model,
            prompt,
        ],
        env={"HOME": str(home), "AIRELAY_API_KEY": setup.key},
        cwd=project,
        timeout=120,
    )
    assert done.returncode == 0, done.output
    return done.output


@pytest.mark.parametrize("channel", ["responses", "openai", "anthropic"])
def test_a_tool_using_turn(setup: Setup, workdir: tuple[Path, Path, str], channel: str) -> None:
    home, project, secret = workdir
    model = setup.models[channel]
    start = len(setup.upstream.seen)
    output = codex(setup, model, home, project, f"READ_FILE {project / 'secret.txt'}")
    assert "FILE SAYS:" in output and secret in output
    calls = [s for s in setup.upstream.seen[start:] if s.body.get("model") == model]
    assert len(calls) >= 2
    if channel == "responses":
        # Passed through: the upstream got the Responses API, Codex's session header included.
        assert all(s.path == "/v1/responses" for s in calls)
    else:
        assert not any(s.path == "/v1/responses" for s in calls)
    rows = setup.admin.http.get(
        "/v1/admin/usage", params={"user_id": setup.user_id, "model": model}
    ).json()
    assert rows["total"] >= 2 and all(r["cost"] > 0 for r in rows["usage"])
