"""The relay is one pipeline for every format and endpoint: its source names no wire format
(neither as a string nor as a ``WireFormat`` member) and no particular ``Endpoint``; what
differs per format or endpoint lives in ``formats`` and ``providers``."""

from __future__ import annotations

import re
from pathlib import Path

import airelay.relay

RELAY = Path(airelay.relay.__file__).parent
NAMED = re.compile(r"""["'](openai|anthropic|gemini)["']|WireFormat\.[A-Z]|Endpoint\.[A-Z]""")


def test_relay_names_no_format_nor_endpoint() -> None:
    found = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(RELAY.glob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if NAMED.search(line)
    ]
    assert list(RELAY.glob("*.py")), RELAY
    assert not found, "\n".join(found)
