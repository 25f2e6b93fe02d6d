"""What several console bodies share: bounded text, and e-mail addresses as accounts keep
them (trimmed, lower case)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from airelay.errors import GatewayError

Text = Annotated[str, msgspec.Meta(max_length=400)]


def normal_email(raw: str) -> str:
    email = raw.strip().lower()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or len(email) > 320 or any(c.isspace() for c in email):
        raise GatewayError(400, "'email' must be an email address")
    return email
