"""Codex CLI (`codex exec`) through the gateway. Codex speaks only the Responses API: a
tool-using turn against a channel that serves Responses natively (bytes passed through)
and against chat-only channels (OpenAI chat and Anthropic, translated); remote compaction
(Codex's ``compaction_trigger``, sent when it talks to OpenAI's own provider) passed
through to the Responses upstream and done by the gateway for a chat upstream."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from agent_clis.clis import Setup, cli, run
from agent_clis.upstream import UPSTREAM_COMPACTION

from airelay.formats.responses_compaction import SUMMARY_INSTRUCTIONS, SUMMARY_PREFACE
from airelay.security.compaction_seal import PREFIX


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


@pytest.mark.parametrize("channel", ["responses", "openai"])
def test_remote_compaction(setup: Setup, workdir: tuple[Path, Path, str], channel: str) -> None:
    """Codex pointed at the gateway as its OpenAI provider compacts remotely once the
    context passes a (tiny) limit mid-turn: it sends its conversation ending in a
    ``compaction_trigger``, expects exactly one ``compaction`` item back, and carries that
    item in the requests that follow."""
    home, project, _secret = workdir
    model = setup.models[channel]
    # OpenAI's own provider reads its key from Codex's login, not from the environment.
    login = subprocess.run(
        [str(cli("codex")), "login", "--with-api-key"],
        input=setup.key,
        env={"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert login.returncode == 0, login.stdout + login.stderr
    start = len(setup.upstream.seen)
    done = run(
        [
            str(cli("codex")),
            "exec",
            "--skip-git-repo-check",
            "-C",
            str(project),
            "-c",
            f"openai_base_url={setup.gateway.url}/v1",
            "-c",
            "model_auto_compact_token_limit=50",
            "-m",
            model,
            f"READ_FILE {project / 'secret.txt'}",
        ],
        env={"HOME": str(home)},
        cwd=project,
        timeout=120,
    )
    assert done.returncode == 0, done.output
    assert "context compacted" in done.output, done.output
    assert "Error running remote compact task" not in done.output
    seen = [s for s in setup.upstream.seen[start:] if s.body.get("model") == model]
    if channel == "responses":
        assert any(s.body["input"][-1] == {"type": "compaction_trigger"} for s in seen)
        after = seen[-1].body["input"]
        carried = [i for i in after if i.get("type") == "compaction"]
        assert carried and carried[0]["encrypted_content"].startswith(UPSTREAM_COMPACTION)
    else:
        assert all(s.path == "/v1/chat/completions" for s in seen)
        text = [str(s.body) for s in seen]
        assert not any("compaction_trigger" in t for t in text)
        summarised = [i for i, t in enumerate(text) if SUMMARY_INSTRUCTIONS[:40] in t]
        assert summarised, "the routed model was never asked for a summary"
        # The sealed item came back and reached the upstream as its summary, in clear.
        later = text[summarised[0] + 1 :]
        assert any(SUMMARY_PREFACE.strip() in t for t in later)
        assert not any(PREFIX in t for t in text)
    rows = setup.admin.http.get(
        "/v1/admin/usage", params={"user_id": setup.user_id, "model": model}
    ).json()
    assert rows["total"] >= 3 and all(r["cost"] > 0 for r in rows["usage"])
