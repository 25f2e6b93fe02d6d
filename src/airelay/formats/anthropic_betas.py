"""The ``anthropic-beta`` header: beta feature names, comma-separated, that switch on
features of Anthropic's Messages API (Claude Code sends several on every call).

Gateways and other Anthropic-compatible upstreams refuse some of them, so a channel may
carry rules (``{name: replacement or None}``) that rewrite or strip names before the header
goes out. Pure functions: the surface checks what a client sent, the management API checks
a channel's rules, the provider applies them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

HEADER = "anthropic-beta"
#: What a beta name may hold: RFC 9110 token characters (names such as
#: ``interleaved-thinking-2025-05-14`` or ``context-1m-2025-08-07``).
_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,200}")
MAX_RULES = 100

Rules = Mapping[str, str | None]


def beta_names(value: str) -> tuple[str, ...]:
    """The names in a header value, in order, each once; ``ValueError`` names the first
    name that cannot be a beta (it would not go on the wire as it is)."""
    names: list[str] = []
    for part in value.split(","):
        name = part.strip()
        if not name:
            continue
        if not _NAME.fullmatch(name):
            raise ValueError(f"'{HEADER}' holds {name[:60]!r}, which is not a beta name")
        if name not in names:
            names.append(name)
    return tuple(names)


def joined(names: Iterable[str]) -> str:
    return ",".join(names)


def rewritten(names: tuple[str, ...], rules: Rules | None) -> tuple[str, ...]:
    """``names`` after a channel's rules: a name with a rule becomes its replacement (which
    may hold several names, comma-separated) or goes away (``None``); the rest stay."""
    if not rules:
        return names
    out: list[str] = []
    for name in names:
        if name not in rules:
            replaced: tuple[str, ...] = (name,)
        else:
            rule = rules[name]
            replaced = () if rule is None else beta_names(rule)
        out.extend(new for new in replaced if new not in out)
    return tuple(out)


def check_rules(rules: object) -> dict[str, str | None]:
    """A channel's rules as stored; ``ValueError`` for anything else than an object whose
    keys are beta names and whose values are beta names (comma-separated) or null (or
    empty: strip the beta)."""
    if not isinstance(rules, dict):
        raise ValueError("'anthropic_betas' must be an object: beta name -> replacement or null")
    if len(rules) > MAX_RULES:
        raise ValueError(f"'anthropic_betas' holds more than {MAX_RULES} rules")
    checked: dict[str, str | None] = {}
    for name, rule in rules.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(f"'anthropic_betas': {str(name)[:60]!r} is not a beta name")
        if rule is None:
            checked[name] = None
            continue
        if not isinstance(rule, str):
            raise ValueError(
                f"'anthropic_betas.{name}' must be a string (the replacement) or null (strip it)"
            )
        try:
            replacement = beta_names(rule)
        except ValueError:
            raise ValueError(
                f"'anthropic_betas.{name}' must be beta names, comma-separated"
            ) from None
        # Empty strips it too: a TOML file (``channels import``) has no null.
        checked[name] = joined(replacement) or None
    return checked
