"""Gemini CLI (`gemini -p`) through the gateway: a tool-using turn against a Gemini channel
(bytes passed through) and against an OpenAI channel (translated)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from agent_clis.clis import Setup, cli, run


def gemini(setup: Setup, model: str, home: Path, project: Path, prompt: str) -> str:
    settings = home / ".gemini" / "settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"security": {"auth": {"selectedType": "gemini-api-key"}}}))
    done = run(
        [str(cli("gemini")), "-p", prompt, "-m", model, "--approval-mode", "yolo"],
        env={
            "HOME": str(home),
            "GEMINI_API_KEY": setup.key,
            "GOOGLE_GEMINI_BASE_URL": setup.gateway.url,
            "GEMINI_CLI_TRUST_WORKSPACE": "true",
        },
        cwd=project,
    )
    assert done.returncode == 0, done.output
    return done.output


@pytest.mark.parametrize("channel", ["gemini", "openai"])
def test_a_tool_using_turn(setup: Setup, workdir: tuple[Path, Path, str], channel: str) -> None:
    home, project, secret = workdir
    model = setup.models[channel]
    start = len(setup.upstream.seen)
    output = gemini(setup, model, home, project, f"READ_FILE {project / 'secret.txt'}")
    assert "FILE SAYS:" in output and secret in output
    calls = [
        s for s in setup.upstream.seen[start:] if model in s.path or s.body.get("model") == model
    ]
    assert len(calls) >= 2
    rows = setup.admin.http.get(
        "/v1/admin/usage", params={"user_id": setup.user_id, "model": model}
    ).json()
    assert rows["total"] >= 2 and all(r["cost"] > 0 for r in rows["usage"])
