"""Structured output in Anthropic's Messages API, to and from the IR's ``response_format``
(OpenAI's shape): a JSON schema is ``output_config.format`` (the beta called it
``output_format``); Anthropic has no JSON mode without a schema."""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]

# What a caller asking for "any JSON object" (OpenAI's ``json_object``, Gemini's JSON MIME
# type without a schema) gets: Anthropic's structured output needs a schema.
JSON_ONLY = "Answer with one JSON object and nothing else."


def decode_output_format(body: Json) -> Json | None:
    """``output_config.format`` (or the beta's top-level ``output_format``) as the IR's
    ``response_format`` (OpenAI's shape)."""
    config = body.get("output_config")
    if config is not None and not isinstance(config, dict):
        raise ValueError("'output_config' must be an object")
    fmt = (config or {}).get("format")
    where = "output_config.format"
    if fmt is None:
        fmt, where = body.get("output_format"), "output_format"
    if fmt is None:
        return None
    if (
        not isinstance(fmt, dict)
        or fmt.get("type") != "json_schema"
        or not isinstance(fmt.get("schema"), dict)
    ):
        raise ValueError(f'\'{where}\' must be {{"type": "json_schema", "schema": {{...}}}}')
    return {"type": "json_schema", "json_schema": {"name": "output", "schema": fmt["schema"]}}


def structured(response_format: Json | None) -> tuple[Json | None, bool]:
    """The IR's ``response_format`` as Anthropic takes it: (a JSON schema for
    ``output_config.format``, or whether to ask for a bare JSON object in words)."""
    fmt = response_format or {}
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if isinstance(schema, dict):
            return schema, False
        return None, True
    return None, fmt.get("type") == "json_object"
