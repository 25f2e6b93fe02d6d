"""Settings of the upstream transports: booleans read as an operator writes them, bounds
refused at start-up rather than misbehaving later."""

from __future__ import annotations

from pathlib import Path

import pytest

from airelay.config import load_settings


def test_transport_defaults() -> None:
    settings = load_settings({})
    assert settings.upstream_trust_env is False
    assert settings.upstream_total_timeout == 3600.0
    assert settings.upstream_max_connections_per_origin == 512


@pytest.mark.parametrize(
    ("raw", "value"),
    [("true", True), ("1", True), ("YES", True), ("on", True), ("false", False), ("0", False)],
)
def test_trust_env_reads_booleans(raw: str, value: bool) -> None:
    assert load_settings({"AIRELAY_UPSTREAM_TRUST_ENV": raw}).upstream_trust_env is value


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
