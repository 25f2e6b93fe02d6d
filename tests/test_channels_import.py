"""``airelay channels import FILE``: channels and models declared in TOML or JSON, run as an
operator runs it (a subprocess) against the database of a running gateway, on SQLite and
PostgreSQL. The rows are read back through the management API and straight from the store."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from fakes.openai_upstream import FakeOpenAI
from fakes.pki import TestCA
from sqlalchemy.engine import make_url
from support.admin import Admin
from support.gateway import Gateway
from surfaces.admin_kit import UPSTREAM_KEY, chat, eventually, ok, table_dump

from airelay.security.crypto import SECRET_FILE, SecretBox
from airelay.store import crud, meta, tables
from airelay.store.db import create_engine

AIRELAY = [sys.executable, "-m", "airelay"]


def unique(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


def cli_env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRELAY_", "STRIPE_"))}
    env["AIRELAY_DATABASE_URL"] = database_url
    env["AIRELAY_DATA_DIR"] = str(data_dir)
    env.update(extra)
    return env


def run_import(
    gateway: Gateway, path: Path, *flags: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """The command against the gateway's database, with its secret (in its data dir)."""
    return subprocess.run(
        [*AIRELAY, "channels", "import", str(path), *flags],
        env=cli_env(gateway.settings.database_url, gateway.settings.data_dir, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result.stdout.splitlines()


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


def write_json(directory: Path, document: dict[str, Any]) -> Path:
    return write(directory, unique("declared") + ".json", json.dumps(document))


def rows(gateway: Gateway, table: str) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        engine = create_engine(gateway.settings.database_url)
        try:
            async with engine.connect() as conn:
                return await crud.all_rows(conn, tables.metadata.tables[table])
        finally:
            await engine.dispose()

    return asyncio.run(read())


def channel_row(gateway: Gateway, name: str) -> dict[str, Any] | None:
    found = [row for row in rows(gateway, "channels") if row["name"] == name]
    assert len(found) <= 1, found
    return found[0] if found else None


def model_row(gateway: Gateway, model_id: str) -> dict[str, Any] | None:
    return next((row for row in rows(gateway, "models") if row["id"] == model_id), None)


def config_version(gateway: Gateway) -> str:
    async def read() -> str:
        engine = create_engine(gateway.settings.database_url)
        try:
            async with engine.connect() as conn:
                return await meta.config_version(conn)
        finally:
            await engine.dispose()

    return asyncio.run(read())


def plain_keys(gateway: Gateway, row: dict[str, Any]) -> list[str]:
    box = SecretBox((gateway.settings.data_dir / SECRET_FILE).read_text().strip())
    return [box.decrypt(token) for token in row["api_keys"]]


def test_creates_then_reports_unchanged(gateway: Gateway, admin: Admin, tmp_path: Path) -> None:
    channel, model, key = unique("DeepSeek"), unique("deepseek-chat"), unique("sk-ds")
    path = write(
        tmp_path,
        "channels.toml",
        f"""
[[channels]]
name = "{channel}"
type = "deepseek"
api_keys = ["${{DEEPSEEK_KEY}}"]
models = ["{model}"]
model_mapping = {{ "deepseek/{model}" = "{model}" }}
priority = 1
weight = 1
status = "disabled"

[[models]]
id = "{model}"
owned_by = "deepseek"
pricing = {{ input = 0.28, output = 0.42, cached_input = 0.028 }}
max_output_tokens = 8192
reasoning = false
""",
    )
    before = config_version(gateway)
    assert lines(run_import(gateway, path, DEEPSEEK_KEY=key)) == [
        f"created channel {channel}",
        f"created model {model}",
        "channels: 1 created, 0 updated, 0 deleted, 0 unchanged; "
        "models: 1 created, 0 updated, 0 deleted, 0 unchanged",
    ]
    created_version = config_version(gateway)
    assert created_version != before

    listing = admin.http.get("/v1/admin/channels")
    assert key not in listing.text
    shown = next(c for c in ok(listing)["channels"] if c["name"] == channel)
    assert shown["type"] == "deepseek"
    assert shown["base_url"] == "https://api.deepseek.com/v1"  # the preset's default
    assert shown["models"] == [model, f"deepseek/{model}"]
    assert shown["model_mapping"] == {f"deepseek/{model}": model}
    assert (shown["priority"], shown["weight"], shown["status"]) == (1, 1, "disabled")
    assert len(shown["api_keys"]) == 1
    stored = channel_row(gateway, channel)
    assert stored is not None and plain_keys(gateway, stored) == [key]

    priced = ok(admin.http.get(f"/v1/admin/models/{model}"))
    assert priced["owned_by"] == "deepseek"
    assert priced["pricing"] == {"input": 0.28, "output": 0.42, "cached_input": 0.028}
    assert priced["max_output_tokens"] == 8192
    assert priced["reasoning"] is False

    # Idempotent: the same file again changes nothing, not even the config version.
    assert lines(run_import(gateway, path, DEEPSEEK_KEY=key)) == [
        f"unchanged channel {channel}",
        f"unchanged model {model}",
        "channels: 0 created, 0 updated, 0 deleted, 1 unchanged; "
        "models: 0 created, 0 updated, 0 deleted, 1 unchanged",
    ]
    assert config_version(gateway) == created_version
    assert channel_row(gateway, channel) == stored


def test_json_file_and_keys_encrypted_at_rest(gateway: Gateway, tmp_path: Path) -> None:
    channel, first, second = unique("OpenAI"), unique("sk-first"), unique("sk-second")
    path = write_json(
        tmp_path,
        {
            "channels": [
                {
                    "name": channel,
                    "type": "openai",
                    "base_url": "https://api.example.com/v1",
                    "api_keys": [first],
                    "api_key": "${SECOND_KEY}",  # one more key, as the API takes it
                    "models": ["gpt-x"],
                    "status": "disabled",
                    "timeout": 30,
                }
            ]
        },
    )
    assert lines(run_import(gateway, path, SECOND_KEY=second))[0] == f"created channel {channel}"
    stored = channel_row(gateway, channel)
    assert stored is not None
    assert plain_keys(gateway, stored) == [first, second]
    assert stored["timeout"] == 30.0 and stored["models"] == ["gpt-x"]
    dump = table_dump(gateway.settings.database_url, "channels")
    assert stored["id"] in dump
    for secret in (first, second):
        assert secret not in dump and secret.removeprefix("sk-") not in dump
    url = make_url(gateway.settings.database_url)
    if url.get_backend_name() == "sqlite":
        assert url.database
        database = Path(url.database)
        files = [str(f) for f in database.parent.glob(database.name + "*")]  # WAL and SHM too
        assert str(database) in files
        assert not on_disk(files, first) and not on_disk(files, second)


def test_proxy_and_tls_are_encrypted_and_compared_in_the_clear(
    gateway: Gateway, tmp_path: Path
) -> None:
    """The proxy and the TLS client key are stored encrypted; importing the same file again
    is "unchanged" (compared decrypted), a new proxy password is an update of ``proxy``."""
    ca = TestCA()
    channel, password = unique("Proxied"), unique("pw")
    entry = {
        "name": channel,
        "type": "openai",
        "base_url": "https://api.example.com/v1",
        "api_keys": [unique("sk-key")],
        "status": "disabled",
        "proxy": f"socks5h://ops:{password}@proxy.internal:1080",
        "tls": {"ca_bundle": ca.ca_pem, "client_cert": ca.client.cert, "client_key": ca.client.key},
    }
    path = write_json(tmp_path, {"channels": [entry]})
    assert lines(run_import(gateway, path))[0] == f"created channel {channel}"
    stored = channel_row(gateway, channel)
    assert stored is not None
    assert password not in str(stored) and "PRIVATE KEY" not in str(stored)
    box = SecretBox((gateway.settings.data_dir / SECRET_FILE).read_text().strip())
    assert box.decrypt(stored["proxy"]) == entry["proxy"]
    assert box.decrypt(stored["tls"]["client_key"]) == ca.client.key
    assert lines(run_import(gateway, path))[0] == f"unchanged channel {channel}"
    entry["proxy"] = f"socks5h://ops:{unique('pw')}@proxy.internal:1080"
    path = write_json(tmp_path, {"channels": [entry]})
    assert lines(run_import(gateway, path))[0] == f"updated channel {channel} (proxy)"
    bad = {**entry, "name": unique("Bad"), "proxy": "ftp://proxy.internal"}
    result = run_import(gateway, write_json(tmp_path, {"channels": [bad]}))
    assert result.returncode != 0 and "scheme" in result.stderr


def on_disk(files: list[str], text: str) -> bool:
    """Whether any of ``files`` holds ``text``, read by another process: closing a file in
    this one would drop the SQLite locks the running gateway holds on it."""
    script = (
        "import pathlib, sys; text = sys.argv[1].encode(); "
        "sys.exit(any(text in pathlib.Path(f).read_bytes() for f in sys.argv[2:]))"
    )
    return subprocess.run([sys.executable, "-c", script, text, *files]).returncode == 1


def test_update_changes_only_the_fields_given(
    gateway: Gateway, admin: Admin, tmp_path: Path
) -> None:
    channel, model = unique("Upstream"), unique("model")
    old_key, new_key = unique("sk-old"), unique("sk-new")
    first = write(
        tmp_path,
        "first.toml",
        f"""
[[channels]]
name = "{channel}"
base_url = "https://api.example.com/v1"
api_keys = ["{old_key}"]
models = ["{model}"]
priority = 1
weight = 1
status = "disabled"
timeout = 30.0
cost_multiplier = 0.85

[[models]]
id = "{model}"
owned_by = "acme"
pricing = {{ input = 1, output = 2 }}
max_output_tokens = 100
""",
    )
    lines(run_import(gateway, first))
    created = channel_row(gateway, channel)
    assert created is not None
    # A field changed through the API that the next file does not mention stays as it is.
    admin.patch_channel(created["id"], weight=7)
    second = write(
        tmp_path,
        "second.toml",
        f"""
[[channels]]
name = "{channel}"
api_keys = ["{new_key}"]
priority = 2
status = "disabled"

[[models]]
id = "{model}"
pricing = {{ input = 1.5 }}
""",
    )
    before = config_version(gateway)
    out = lines(run_import(gateway, second))
    assert out[:2] == [
        f"updated channel {channel} (api_keys, priority)",
        f"updated model {model} (pricing)",
    ]
    assert out[2] == (
        "channels: 0 created, 1 updated, 0 deleted, 0 unchanged; "
        "models: 0 created, 1 updated, 0 deleted, 0 unchanged"
    )
    assert config_version(gateway) != before
    updated = channel_row(gateway, channel)
    assert updated is not None and updated["id"] == created["id"]
    assert plain_keys(gateway, updated) == [new_key]
    assert (updated["priority"], updated["weight"], updated["status"]) == (2, 7, "disabled")
    assert updated["timeout"] == 30.0 and updated["base_url"] == "https://api.example.com/v1"
    assert created["cost_multiplier"] == updated["cost_multiplier"] == "0.85"
    shown = ok(admin.http.get(f"/v1/admin/models/{model}"))
    # The file's pricing is the whole pricing: the output price it no longer names is gone.
    assert shown["pricing"] == {"input": 1.5}
    assert shown["owned_by"] == "acme" and shown["max_output_tokens"] == 100


def test_prune_deletes_what_the_file_does_not_list(gateway: Gateway, tmp_path: Path) -> None:
    kept, dropped = unique("kept"), unique("dropped")
    kept_model, dropped_model = unique("kept-model"), unique("dropped-model")

    def channel(name: str) -> dict[str, Any]:
        return {"name": name, "base_url": "https://api.example.com/v1", "status": "disabled"}

    both = write_json(
        tmp_path,
        {
            "channels": [channel(kept), channel(dropped)],
            "models": [{"id": kept_model}, {"id": dropped_model}],
        },
    )
    lines(run_import(gateway, both))
    assert channel_row(gateway, dropped) is not None

    # Only the channels section: models are left alone, even with --prune.
    channels_only = write_json(tmp_path, {"channels": [channel(kept)]})
    out = lines(run_import(gateway, channels_only, "--prune"))
    assert f"unchanged channel {kept}" in out
    assert f"deleted channel {dropped}" in out
    assert not [line for line in out if line.startswith("deleted model")]
    assert channel_row(gateway, kept) is not None
    assert channel_row(gateway, dropped) is None
    assert model_row(gateway, dropped_model) is not None

    models_only = write_json(tmp_path, {"models": [{"id": kept_model}]})
    out = lines(run_import(gateway, models_only, "--prune"))
    assert f"deleted model {dropped_model}" in out and f"unchanged model {kept_model}" in out
    assert model_row(gateway, dropped_model) is None
    assert model_row(gateway, kept_model) is not None
    assert channel_row(gateway, kept) is not None

    # An empty list is a declaration too: --prune with "channels": [] deletes them all.
    out = lines(run_import(gateway, write_json(tmp_path, {"channels": []}), "--prune"))
    assert f"deleted channel {kept}" in out
    assert rows(gateway, "channels") == []


def test_dry_run_prints_and_writes_nothing(gateway: Gateway, tmp_path: Path) -> None:
    channel, model = unique("Dry"), unique("dry-model")
    document: dict[str, Any] = {
        "channels": [{"name": channel, "type": "kimi", "api_keys": ["${KIMI_KEY}"]}],
        "models": [{"id": model, "pricing": {"input": 1}}],
    }
    path = write_json(tmp_path, document)
    before = config_version(gateway)
    assert lines(run_import(gateway, path, "--dry-run", KIMI_KEY="sk-kimi")) == [
        f"created channel {channel}",
        f"created model {model}",
        "channels: 1 created, 0 updated, 0 deleted, 0 unchanged; "
        "models: 1 created, 0 updated, 0 deleted, 0 unchanged (dry run: nothing written)",
    ]
    assert channel_row(gateway, channel) is None and model_row(gateway, model) is None
    assert config_version(gateway) == before

    lines(run_import(gateway, path, KIMI_KEY="sk-kimi"))
    stored = channel_row(gateway, channel)
    written = config_version(gateway)
    document["channels"][0]["priority"] = 3
    changed = write_json(tmp_path, document)
    out = lines(run_import(gateway, changed, "--dry-run", KIMI_KEY="sk-kimi-2"))
    assert out[:2] == [
        f"updated channel {channel} (api_keys, priority)",
        f"unchanged model {model}",
    ]
    assert out[-1].endswith("(dry run: nothing written)")
    assert channel_row(gateway, channel) == stored
    assert config_version(gateway) == written


def test_running_gateway_serves_what_was_imported(
    gateway: Gateway, admin: Admin, upstream: FakeOpenAI, tmp_path: Path
) -> None:
    """The config version bump makes the running gateway reload: the new channel carries
    calls, with its key decrypted from what the command stored."""
    model = unique("imported")
    token = admin.create_token(admin.create_user(balance=10)["id"])
    path = write(
        tmp_path,
        "route.toml",
        f"""
[[channels]]
name = "{unique("fake")}"
type = "openai"
base_url = "{upstream.base_url}"
api_keys = ["${{UPSTREAM_KEY}}"]
models = ["{model}"]

[[models]]
id = "{model}"
pricing = {{ input = 1, output = 2 }}
""",
    )
    assert chat(gateway.url, token["key"], model).status_code == 404
    lines(run_import(gateway, path, UPSTREAM_KEY=UPSTREAM_KEY))
    assert eventually(lambda: chat(gateway.url, token["key"], model).status_code == 200, 10)


BAD_CHANNELS: list[tuple[dict[str, Any], str]] = [
    ({"type": "nope"}, "'type' must be one of: openai, deepseek"),
    ({"base_url": "ftp://example.com"}, "'base_url' must be an http(s) URL"),
    ({"priority": 0}, "'priority' must be 1 or more (1 is tried first)"),
    ({"priority": "high"}, "Expected `int`, got `str` - at `$.priority`"),
    ({"weight": -1}, "Expected `int` >= 0 - at `$.weight`"),
    ({"api_keys": [" "]}, "'api_keys' must not contain empty keys"),
    ({"models": [""]}, "'models' must not contain empty names"),
    ({"status": "paused"}, "'status' must be one of: active, disabled"),
    ({"timeout": 0}, "'timeout' must be a positive number of seconds"),
    ({"cost_multiplier": "-0.5"}, "'cost_multiplier' must be from 0 to 1000"),
    ({"type": "x" * 65}, "Expected `str` of length <= 64 - at `$.type`"),
    ({"endpoints": ["teleport"]}, "'endpoints' must be one of: chat, responses, embeddings"),
    ({"type": "gemini", "endpoints": ["rerank"]}, "a gemini channel cannot serve rerank"),
    ({"type": "bedrock", "api_keys": ["sk-x"]}, "'api_keys': a bedrock key is ACCESS_KEY_ID:"),
    (
        {"type": "anthropic", "anthropic_betas": {"a b": None}},
        "'anthropic_betas': 'a b' is not a beta name",
    ),
    ({"anthropic_betas": {"a-1": "b-1"}}, "'anthropic_betas' applies to anthropic channels only"),
]
BAD_MODELS: list[tuple[dict[str, Any], str]] = [
    ({"pricing": {"input": -1}}, "pricing.input must not be negative"),
    (
        {"pricing": {"output": 0.00001}},
        "pricing.output: a price per 1M tokens has at most 4 decimals (USD)",
    ),
    ({"pricing": {"bogus": 1}}, "unknown price 'bogus'; known: input, output"),
    ({"pricing": {"input": "cheap"}}, "pricing.input: amount must be a number"),
    ({"max_output_tokens": 0}, "'max_output_tokens' must be 1 or more"),
]


def test_invalid_entries_are_refused_as_the_api_refuses_them(
    gateway: Gateway, admin: Admin, tmp_path: Path
) -> None:
    """Every faulty entry is reported (naming the entry and field) with the management API's
    own message, the command exits 2, and nothing at all is written."""
    good_channel, good_model = unique("good"), unique("good-model")
    channels: list[dict[str, Any]] = [{"name": good_channel, "status": "disabled"}]
    expected: list[str] = []
    for index, (fields, message) in enumerate(BAD_CHANNELS, start=1):
        name = unique("bad")
        channels.append({"name": name, **fields})
        expected.append(f"channels[{index}] ({name}): {message}")
        answer = admin.http.post("/v1/admin/channels", json={"name": name, **fields})
        assert answer.status_code == 400 and message in answer.json()["error"]["message"]
    models: list[dict[str, Any]] = [{"id": good_model}]
    for index, (fields, message) in enumerate(BAD_MODELS, start=1):
        model_id = unique("bad-model")
        models.append({"id": model_id, **fields})
        expected.append(f"models[{index}] ({model_id}): {message}")
        answer = admin.http.post("/v1/admin/models", json={"id": model_id, **fields})
        assert answer.status_code == 400 and message in answer.json()["error"]["message"]
    extra_name = unique("env")
    channels.append({"name": extra_name, "api_keys": ["sk-ok", "${AIRELAY_TEST_UNSET_KEY}"]})
    expected.append(
        f"channels[{len(channels) - 1}] ({extra_name}): api_keys[1]: "
        "environment variable AIRELAY_TEST_UNSET_KEY is not set"
    )
    channels.append({"name": good_channel, "prority": 2})
    expected.append(f"channels[{len(channels) - 1}] ({good_channel}): unknown field 'prority'")
    channels.append({"name": good_channel})
    expected.append(
        f"channels[{len(channels) - 1}] ({good_channel}): name '{good_channel}' is declared "
        "twice (first in channels[0] (good"
    )

    before = config_version(gateway)
    result = run_import(gateway, write_json(tmp_path, {"channels": channels, "models": models}))
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    problems = result.stderr.splitlines()
    for line in expected:
        assert any(problem.startswith(f"airelay: {line}") for problem in problems), (
            line,
            problems,
        )
    assert problems[-1] == "airelay: nothing was imported"
    assert channel_row(gateway, good_channel) is None and model_row(gateway, good_model) is None
    assert config_version(gateway) == before


def test_ambiguous_name_in_database_writes_nothing(
    gateway: Gateway, admin: Admin, tmp_path: Path
) -> None:
    """Channel names are not unique in the database: a file naming two rows is refused,
    after the comparison began, and the transaction leaves no trace."""
    twin, fresh = unique("twin"), unique("fresh")
    for _ in range(2):
        admin.http.post("/v1/admin/channels", json={"name": twin, "status": "disabled"})
    before = config_version(gateway)
    path = write_json(tmp_path, {"channels": [{"name": fresh}, {"name": twin, "priority": 2}]})
    result = run_import(gateway, path, "--prune")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert f"channels[1] ({twin}): 2 channels in the database are named '{twin}'" in result.stderr
    assert channel_row(gateway, fresh) is None
    assert [row["priority"] for row in rows(gateway, "channels") if row["name"] == twin] == [1, 1]
    assert config_version(gateway) == before


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("channels.yaml", "channels: []", "use a .toml or .json file"),
        ("broken.toml", "[[channels]\nname = 1", "malformed TOML"),
        ("broken.json", '{"channels": [', "malformed JSON"),
        ("list.json", "[]", "the top level must be a table"),
        ("typo.toml", '[[chanels]]\nname = "x"', "unknown section 'chanels'"),
        ("flat.toml", '[channels]\nname = "x"', "'channels' must be a list"),
        ("scalar.json", '{"models": ["gpt-4o"]}', "models[0]: must be a table/object"),
        ("var.toml", '[[channels]]\nname = "${lower-case}"', "is not a valid variable"),
    ],
)
def test_unreadable_files_exit_2_before_touching_the_database(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    database = tmp_path / "data" / "airelay.db"
    result = subprocess.run(
        [*AIRELAY, "channels", "import", str(write(tmp_path, name, text))],
        env=cli_env(f"sqlite:///{database}", tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not database.exists()


def test_missing_file_and_dry_run_on_a_fresh_database(tmp_path: Path) -> None:
    database = tmp_path / "data" / "airelay.db"
    env = cli_env(f"sqlite:///{database}", tmp_path / "data", ESCAPED="no")
    missing = subprocess.run(
        [*AIRELAY, "channels", "import", str(tmp_path / "absent.toml")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    # ``$${...}`` is a literal ``${...}``, not a variable.
    path = write(tmp_path, "new.toml", '[[channels]]\nname = "costs $${ESCAPED}"\n')
    dry = subprocess.run(
        [*AIRELAY, "channels", "import", str(path), "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[0] == "created channel costs ${ESCAPED}"
    assert not (tmp_path / "data").exists()  # no database, no secret


def test_help_lists_channels_import() -> None:
    out = subprocess.run(
        [*AIRELAY, "channels", "import", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "--prune" in out and "--dry-run" in out and "FILE" in out


def test_anthropic_beta_rules_from_json_and_toml(
    gateway: Gateway, admin: Admin, tmp_path: Path
) -> None:
    """Rules import as the API stores them; TOML, which has no null, strips with ``""``."""
    from_json, from_toml = unique("Claude-json"), unique("Claude-toml")
    rules = {"context-1m-2025-08-07": None, "fine-grained-tool-streaming-2025-05-14": "t-1"}
    entry = {
        "name": from_json,
        "type": "anthropic",
        "api_keys": ["sk-ant-x"],
        "status": "disabled",
        "anthropic_betas": rules,
    }
    json_file = write_json(tmp_path, {"channels": [entry]})
    assert lines(run_import(gateway, json_file))[0] == f"created channel {from_json}"
    toml_file = write(
        tmp_path,
        "betas.toml",
        f"""
[[channels]]
name = "{from_toml}"
type = "anthropic"
api_keys = ["sk-ant-x"]
status = "disabled"

[channels.anthropic_betas]
"context-1m-2025-08-07" = ""
"fine-grained-tool-streaming-2025-05-14" = "t-1"
""",
    )
    assert lines(run_import(gateway, toml_file))[0] == f"created channel {from_toml}"
    for name in (from_json, from_toml):
        stored = channel_row(gateway, name)
        assert stored is not None and stored["anthropic_betas"] == rules
    shown = {c["name"]: c for c in ok(admin.http.get("/v1/admin/channels"))["channels"]}
    assert shown[from_json]["anthropic_betas"] == rules
    # The same file again: unchanged; other rules: updated.
    assert lines(run_import(gateway, json_file))[0] == f"unchanged channel {from_json}"
    entry["anthropic_betas"] = {"context-1m-2025-08-07": None}
    changed = write_json(tmp_path, {"channels": [entry]})
    assert lines(run_import(gateway, changed))[0].startswith(f"updated channel {from_json}")
    stored = channel_row(gateway, from_json)
    assert stored is not None and stored["anthropic_betas"] == {"context-1m-2025-08-07": None}
