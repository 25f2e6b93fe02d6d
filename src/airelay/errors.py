"""Errors the gateway answers with, and their OpenAI-shaped bodies."""

from __future__ import annotations

import orjson

from airelay.formats import openai_stream

# The error ``type`` for each status lives with the OpenAI wire format (formats import
# nothing of ours, so the table is theirs to own).
ERROR_TYPES = openai_stream.ERROR_TYPES


class GatewayError(Exception):
    """An error with an HTTP status that is answered to the client in its own format."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_ or ERROR_TYPES.get(status, "server_error")
        self.headers = headers or {}


def openai_error_body(status: int, message: str, type_: str | None = None) -> bytes:
    """``{"error": {"message", "type", "code"}}``; ``code`` is the HTTP status, as in the seed."""
    return orjson.dumps(openai_stream.error_body(status, message, type_))
