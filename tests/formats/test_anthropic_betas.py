"""The ``anthropic-beta`` header: names parsed in order and once, a channel's rules rewrite
or strip them, and rules are checked before they are stored."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airelay.formats.anthropic_betas import beta_names, check_rules, joined, rewritten

NAME = st.from_regex(r"[a-z][a-z0-9-]{0,30}", fullmatch=True)


def test_names_in_order_each_once_spaces_and_empty_parts_ignored() -> None:
    header = " claude-code-20250219, interleaved-thinking-2025-05-14,,claude-code-20250219 "
    assert beta_names(header) == ("claude-code-20250219", "interleaved-thinking-2025-05-14")
    assert beta_names("") == () and beta_names(" , ") == ()


@pytest.mark.parametrize("bad", ["a b", "bad\u00e9", 'q"uote', "x" * 201, "semi;colon"])
def test_a_name_that_cannot_be_a_beta_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a beta name"):
        beta_names(f"ok-1,{bad}")


def test_rules_rewrite_strip_and_keep() -> None:
    names = ("context-1m-2025-08-07", "fine-grained-tool-streaming-2025-05-14", "keep-me")
    rules = {
        "context-1m-2025-08-07": None,
        "fine-grained-tool-streaming-2025-05-14": "tools-a,keep-me",
        "unused": "other",
    }
    assert rewritten(names, rules) == ("tools-a", "keep-me")
    assert rewritten(names, None) == names and rewritten(names, {}) == names
    assert rewritten(("a",), {"a": None}) == ()


@given(st.lists(NAME, max_size=8))
def test_without_rules_names_round_trip(names: list[str]) -> None:
    parsed = beta_names(joined(names))
    assert parsed == tuple(dict.fromkeys(names))
    assert rewritten(parsed, {}) == parsed


@given(st.lists(NAME, max_size=8), st.dictionaries(NAME, st.none() | NAME, max_size=5))
def test_rules_leave_no_stripped_name_and_no_duplicate(
    names: list[str], rules: dict[str, str | None]
) -> None:
    out = rewritten(beta_names(joined(names)), rules)
    assert len(out) == len(set(out))
    stripped = {name for name, rule in rules.items() if rule is None}
    replacements = {rule for rule in rules.values() if rule is not None}
    assert not (set(out) & stripped - replacements)


def test_rules_are_checked_and_normalised() -> None:
    assert check_rules({"a": None, "b": " c , d ", "e": ""}) == {"a": None, "b": "c,d", "e": None}
    assert check_rules({}) == {}


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (["a"], "must be an object"),
        ("a", "must be an object"),
        ({"a": 1}, "must be a string"),
        ({"a": ["b"]}, "must be a string"),
        ({"a": "b c"}, "comma-separated"),
        ({"a b": None}, "not a beta name"),
        ({"x\r\nInjected: 1": None}, "not a beta name"),
        ({"a": "b\r\nInjected: 1"}, "comma-separated"),
        ({f"n{i}": None for i in range(101)}, "more than 100"),
    ],
)
def test_bad_rules_are_refused(rules: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_rules(rules)
