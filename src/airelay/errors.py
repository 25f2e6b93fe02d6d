"""Errors the gateway answers with, and their OpenAI-shaped bodies."""

from __future__ import annotations

import orjson

# The error `type` for each status, as the OpenAI-style relays of the contract name them.
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_funds",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "server_error",
    501: "not_implemented",
    502: "upstream_error",
    503: "service_unavailable",
    504: "timeout_error",
}


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
    return orjson.dumps(
        {
            "error": {
                "message": message,
                "type": type_ or ERROR_TYPES.get(status, "server_error"),
                "code": status,
            }
        }
    )


def bad_request(message: str) -> GatewayError:
    return GatewayError(400, message)


def not_found(message: str) -> GatewayError:
    return GatewayError(404, message)
