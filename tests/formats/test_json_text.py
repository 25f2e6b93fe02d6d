"""JSON text inside the formats (tool-call arguments) goes through orjson, the one JSON
library of the hot path, with the output the formats had from the standard library."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from airelay.formats.json_text import compact_json, parse_arguments, parse_json

SRC = Path(__file__).resolve().parents[2] / "src" / "airelay"
# What a relayed call runs through; admin and OpenAPI code decode typed structs with msgspec
# (validation, not the hot path).
HOT_PATH = ["relay", "formats", "client", "providers", "surfaces/*.py", "billing/tokens.py"]


@pytest.mark.parametrize(
    "value",
    [
        {},
        {"city": "Paris", "days": 3, "ok": True, "none": None},
        {"text": 'héllo 你好 👍 \u2028 </script> \\ "q"', "nested": [1, [2, {"a": []}]]},
        {"float": 1.5, "neg": -7, "big": 2**63 - 1},
        [],
    ],
)
def test_compact_json_is_what_the_standard_library_gave(value: object) -> None:
    assert compact_json(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def test_parse_arguments_gives_an_object_or_nothing() -> None:
    assert parse_arguments('{"city": "Paris", "n": [1, 2]}') == {"city": "Paris", "n": [1, 2]}
    assert parse_arguments("") == {}
    assert parse_arguments('{"city": "Par') == {}  # cut
    assert parse_arguments("[1, 2]") == {}
    assert parse_arguments("NaN") == {}  # not JSON
    assert parse_json('{"a": 1}') == {"a": 1}
    assert parse_json("not json") is None


def test_the_hot_path_uses_no_other_json_library() -> None:
    files = sorted({path for pattern in HOT_PATH for path in _files(pattern)})
    assert len(files) > 30
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                assert name != "json" and not name.startswith(("json.", "msgspec.json")), (
                    f"{path.relative_to(SRC)} imports {name}"
                )
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                assert not (node.value.id == "msgspec" and node.attr == "json"), path


def _files(pattern: str) -> list[Path]:
    target = SRC / pattern
    if target.is_dir():
        return list(target.rglob("*.py"))
    return list(SRC.glob(pattern))
