"""Settings: one msgspec definition, decoded from the environment over a TOML file, bad values
refused with the variable named, and README's table in step with it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airelay import config
from airelay.config import ConfigError, Settings, env_name, load_settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_no_variables_give_the_defaults() -> None:
    assert load_settings({}) == Settings()


def test_environment_strings_are_decoded_to_the_field_types() -> None:
    settings = load_settings(
        {
            "AIRELAY_PORT": "9000",
            "AIRELAY_UPSTREAM_TIMEOUT": "2.5",
            "AIRELAY_DATA_DIR": "/srv/airelay",
            "AIRELAY_ADMIN_KEY": "mgmt-root-1",
            "STRIPE_API_KEY": "sk_test_1",
            "AIRELAY_HOST": "",  # empty: unset
        }
    )
    assert settings.port == 9000 and isinstance(settings.port, int)
    assert settings.upstream_timeout == 2.5
    assert settings.data_dir == Path("/srv/airelay")
    assert settings.admin_key == "mgmt-root-1"
    assert settings.stripe_api_key == "sk_test_1"
    assert settings.host == "127.0.0.1"


def test_data_dir_sits_beside_an_sqlite_file() -> None:
    assert load_settings({"AIRELAY_DATABASE_URL": "sqlite:////var/db/a.db"}).data_dir == Path(
        "/var/db"
    )
    assert load_settings({"AIRELAY_DATABASE_URL": "postgresql://h/db"}).data_dir == Path("data")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("AIRELAY_PORT", "eighty", "Expected `int`"),
        ("AIRELAY_PORT", "70000", "<= 65535"),
        ("AIRELAY_WORKERS", "0", ">= 1"),
        ("AIRELAY_UPSTREAM_TIMEOUT", "-1", "> 0"),
        ("AIRELAY_UPSTREAM_TIMEOUT", "soon", "Expected `float`"),
        ("AIRELAY_MAX_BODY_BYTES", "0", ">= 1"),
        ("AIRELAY_USAGE_RETENTION_DAYS", "-3", ">= 0"),
        ("AIRELAY_MAX_INFLIGHT_CALLS", "1.5", "Expected `int`"),
    ],
)
def test_a_bad_value_names_its_variable(name: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({name: value})
    message = str(caught.value)
    assert message.startswith(f"{name}: invalid value {value!r}")
    assert expected in message


def test_a_bad_secret_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError, match=r"^AIRELAY_ADMIN_KEY: invalid value: .*mgmt-") as caught:
        load_settings({"AIRELAY_ADMIN_KEY": "hunter2-secret"})
    assert "hunter2" not in str(caught.value)


def test_the_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    path = tmp_path / "airelay.toml"
    path.write_text('port = 9100\nworkers = 3\nhost = "0.0.0.0"\nmax_stream_seconds = 60\n')
    settings = load_settings({"AIRELAY_CONFIG": str(path), "AIRELAY_PORT": "9200"})
    assert (settings.port, settings.workers, settings.host) == (9200, 3, "0.0.0.0")
    assert settings.max_stream_seconds == 60.0


def test_the_file_refuses_unknown_keys_and_bad_values(tmp_path: Path) -> None:
    path = tmp_path / "airelay.toml"
    path.write_text("prot = 9100\n")
    with pytest.raises(ConfigError, match=f"^prot in {re.escape(str(path))}: no such setting"):
        load_settings({"AIRELAY_CONFIG": str(path)})
    path.write_text("workers = 0\n")
    with pytest.raises(ConfigError, match=f"^workers in {re.escape(str(path))}: invalid value 0"):
        load_settings({"AIRELAY_CONFIG": str(path)})
    path.write_text("secret_key = 12345678\n")
    with pytest.raises(ConfigError) as caught:
        load_settings({"AIRELAY_CONFIG": str(path)})
    assert "secret_key in" in str(caught.value) and "12345678" not in str(caught.value)


def test_an_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^AIRELAY_CONFIG: cannot read"):
        load_settings({"AIRELAY_CONFIG": str(tmp_path / "missing.toml")})
    broken = tmp_path / "broken.toml"
    broken.write_text("port = \n")
    with pytest.raises(ConfigError, match=r"^AIRELAY_CONFIG: .* is not valid TOML"):
        load_settings({"AIRELAY_CONFIG": str(broken)})


def test_redis_url_is_read_checked_and_never_echoed(tmp_path: Path) -> None:
    assert load_settings({}).redis_url is None
    url = "redis://127.0.0.1:6379/0"
    assert load_settings({"AIRELAY_REDIS_URL": url}).redis_url == url
    path = tmp_path / "airelay.toml"
    path.write_text('redis_url = "unix:///run/redis.sock"\n')
    assert load_settings({"AIRELAY_CONFIG": str(path)}).redis_url == "unix:///run/redis.sock"
    with pytest.raises(ConfigError, match=r"^AIRELAY_REDIS_URL: invalid value") as caught:
        load_settings({"AIRELAY_REDIS_URL": "http://:hunter2@cache:6379"})
    assert "hunter2" not in str(caught.value)  # a URL may carry a password


def test_affinity_ttl() -> None:
    assert load_settings({}).affinity_ttl == 3600.0
    assert load_settings({"AIRELAY_AFFINITY_TTL": "0"}).affinity_ttl == 0.0
    with pytest.raises(ConfigError, match=r"^AIRELAY_AFFINITY_TTL: invalid value '-1'"):
        load_settings({"AIRELAY_AFFINITY_TTL": "-1"})


def _readme_rows() -> list[str]:
    text = README.read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| `")]


def _shown(default: object) -> str:
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"  # as an operator writes it
    return f"`{default:g}`" if isinstance(default, float) else f"`{default}`"


def test_readme_lists_every_setting_with_its_default() -> None:
    rows = _readme_rows()
    for field in config.fields():
        name = env_name(field)
        row = next((r for r in rows if f"`{name}`" in r.split(" | ")[0]), None)
        assert row is not None, f"{name} is missing from README's configuration table"
        if field.default is not None and field.name != "data_dir":  # derived: see the row
            default_cell = row.rsplit(" | ", 1)[1]
            assert _shown(field.default) in default_cell, (name, default_cell)


def test_readme_lists_no_setting_that_does_not_exist() -> None:
    known = {env_name(field) for field in config.fields()}
    for row in _readme_rows():
        for name in re.findall(r"`((?:AIRELAY|STRIPE)_[A-Z_]+)`", row.split(" | ")[0]):
            assert name in known, f"README documents {name}, which is no setting"


def test_transport_defaults() -> None:
    settings = load_settings({})
    assert settings.upstream_trust_env is False
    assert settings.upstream_total_timeout == 3600.0
    assert settings.upstream_max_connections_per_origin == 4096


@pytest.mark.parametrize(
    ("raw", "value"),
    [("true", True), ("1", True), ("false", False), ("0", False)],
)
def test_trust_env_reads_booleans(raw: str, value: bool) -> None:
    assert load_settings({"AIRELAY_UPSTREAM_TRUST_ENV": raw}).upstream_trust_env is value


def test_limits_leases_on_unless_turned_off() -> None:
    assert load_settings({}).limits_leases is True
    assert load_settings({"AIRELAY_LIMITS_LEASES": "false"}).limits_leases is False
    with pytest.raises(ConfigError, match="AIRELAY_LIMITS_LEASES"):
        load_settings({"AIRELAY_LIMITS_LEASES": "off"})


def test_trust_env_from_the_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "airelay.toml"
    path.write_text("upstream_trust_env = true\nupstream_max_connections_per_origin = 64\n")
    settings = load_settings({"AIRELAY_CONFIG": str(path)})
    assert settings.upstream_trust_env is True
    assert settings.upstream_max_connections_per_origin == 64


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("AIRELAY_UPSTREAM_TRUST_ENV", "maybe"),
        ("AIRELAY_UPSTREAM_TOTAL_TIMEOUT", "-1"),
        ("AIRELAY_UPSTREAM_TOTAL_TIMEOUT", "soon"),
        ("AIRELAY_UPSTREAM_TOTAL_TIMEOUT", "nan"),
        ("AIRELAY_UPSTREAM_MAX_CONNECTIONS_PER_ORIGIN", "0"),
    ],
)
def test_bad_values_are_refused(name: str, raw: str) -> None:
    with pytest.raises(ValueError):
        load_settings({name: raw})


def test_redis_timeout_is_read_and_bounded() -> None:
    assert load_settings({}).redis_timeout == 0.2
    assert load_settings({"AIRELAY_REDIS_TIMEOUT": "1.5"}).redis_timeout == 1.5
    for bad in ("0", "-1", "11", "soon"):
        with pytest.raises(ConfigError, match=r"^AIRELAY_REDIS_TIMEOUT: "):
            load_settings({"AIRELAY_REDIS_TIMEOUT": bad})
