"""``GET /openapi.json``: an OpenAPI 3.1 document of every route and its body, no key needed.

The path list comes from the route table itself (``airelay.routes``); this module adds what
a route takes (query, headers, body) and who may call it. A route without an entry in
``OPERATIONS`` makes the document fail to build, so none is forgotten (a test builds it).
Management bodies are the msgspec Structs the handlers decode into, as JSON Schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from typing import Any

import msgspec
import orjson
from aiohttp import web

from airelay import __version__
from airelay.catalog import (
    CHANNEL_STATUSES,
    ENDPOINTS,
    PRICE_FIELDS,
    ChannelCreate,
    ChannelPatch,
    ModelCreate,
    ModelPatch,
)
from airelay.formats.anthropic_betas import MAX_RULES
from airelay.formats.responses_history import MAX_LIMIT as MAX_ITEMS
from airelay.pricing import MAX_COST_MULTIPLIER
from airelay.providers.presets import CHANNEL_TYPES
from airelay.store.accounts import ROLES
from airelay.store.quota_window import PERIODS
from airelay.surfaces.admin import redemptions, tokens, users
from airelay.surfaces.admin.topup import MAX_IDEMPOTENCY_KEY, TopupRequest
from airelay.surfaces.console import accounts as console_bodies
from airelay.surfaces.console import reset as console_reset
from airelay.surfaces.console import verify as console_verify
from airelay.surfaces.gemini import ACTIONS
from airelay.surfaces.openapi import bodies
from airelay.surfaces.openapi.console_operations import CONSOLE_OPERATIONS
from airelay.surfaces.openapi.operation import (
    ADMIN,
    CONSOLE,
    PAGING,
    PUBLIC,
    RANGE,
    STRING,
    USAGE_FILTERS,
    USER,
    Operation,
    Schema,
    ref,
)

Table = Iterable[tuple[str, str, Any]]
_STRUCTS = (
    users.UserCreate,
    users.UserPatch,
    tokens.TokenCreate,
    tokens.TokenPatch,
    ChannelCreate,
    ChannelPatch,
    ModelCreate,
    ModelPatch,
    TopupRequest,
    redemptions.BatchCreate,
    *console_bodies.STRUCTS,
    console_reset.ResetRequest,
    console_reset.ResetConfirm,
    console_verify.VerifyRequest,
    console_verify.ResendRequest,
)
# Rules the handlers check after decoding, stated in the schema so a generator can meet them.
_ENUMS: dict[tuple[str, str], list[str]] = {
    ("UserPatch", "status"): list(users.STATUSES),
    ("UserPatch", "role"): list(ROLES),
    ("TokenPatch", "status"): list(tokens.STATUSES),
    ("ChannelCreate", "type"): list(CHANNEL_TYPES),
    ("ChannelPatch", "type"): list(CHANNEL_TYPES),
    ("ChannelCreate", "status"): list(CHANNEL_STATUSES),
    ("ChannelPatch", "status"): list(CHANNEL_STATUSES),
}
_PERMISSIONS: Schema = {"type": "array", "items": {"enum": list(tokens.PERMISSIONS)}}
_QUOTA_PERIOD: Schema = {"anyOf": [{"enum": list(PERIODS)}, {"type": "null"}]}
# What a channel serves; null (or left out) means its type's default.
_ENDPOINT_LIST: Schema = {
    "anyOf": [
        {"type": "array", "items": {"enum": list(ENDPOINTS)}, "minItems": 1},
        {"type": "null"},
    ]
}
# Beta name -> replacement (names, comma-separated) or null to strip it; null: no rules.
_BETA_RULES: Schema = {
    "anyOf": [
        {
            "type": "object",
            "additionalProperties": {"type": ["string", "null"], "maxLength": 2000},
            "maxProperties": MAX_RULES,
        },
        {"type": "null"},
    ],
    "description": (
        "anthropic channels: rules for the anthropic-beta header a client sent, applied "
        "before it goes upstream; a beta name maps to its replacement or null (strip it)"
    ),
}
# What the upstream costs the operator (shown back as the exact decimal text).
_COST_MULTIPLIER: Schema = {
    "anyOf": [
        {"type": "string", "pattern": r"^\s*[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?\s*$"},
        {"type": "number", "minimum": 0, "maximum": MAX_COST_MULTIPLIER},
        {"type": "null"},
    ],
    "description": (
        "what a call on this channel costs upstream: its price at the model's list price "
        "(no group multiplier) times this decimal (0 to 1000, at most 10 decimal places); "
        "null: not known"
    ),
}
# What the Anthropic face passes on to Anthropic channels (and to no other upstream).
_BETA_HEADER = (("anthropic-beta", {"type": "string", "maxLength": 2000}),)
_BETA_QUERY = (("beta", {"enum": ["true"]}),)
_PRICING: Schema = {
    "type": "object",
    "properties": {
        name: {"type": ["number", "null"], "minimum": 0}
        if name not in ("per_image", "per_video_second")
        else {  # one price, or prices by size / resolution
            "anyOf": [
                {"type": ["number", "null"], "minimum": 0},
                {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}},
            ]
        }
        for name in PRICE_FIELDS
    },
    "additionalProperties": False,
}


OPERATIONS: dict[tuple[str, str], Operation] = {
    ("POST", "/chat/completions"): Operation(
        "Create a chat completion (OpenAI format)", USER, ref("OpenAIChatRequest")
    ),
    ("POST", "/responses"): Operation(
        "Create a model response (OpenAI Responses format; stateless for now)",
        USER,
        ref("OpenAIResponsesRequest"),
    ),
    ("POST", "/responses/compact"): Operation(
        "Compact a conversation (OpenAI Responses API): by the upstream when it serves the "
        "Responses API, else by the gateway (a sealed summary)",
        USER,
        ref("OpenAIResponsesCompactRequest"),
    ),
    ("POST", "/embeddings"): Operation(
        "Create embeddings (OpenAI format)", USER, ref("OpenAIEmbeddingsRequest")
    ),
    ("POST", "/videos/generations"): Operation(
        "Create a video generation task (answers at once; poll it)",
        USER,
        ref("VideoGenerationRequest"),
    ),
    ("GET", "/videos/generations/{id}"): Operation("Retrieve a video generation task", USER),
    ("POST", "/videos"): Operation(
        "Create a video (OpenAI videos API: a form or JSON)", USER, ref("OpenAIVideoRequest")
    ),
    ("GET", "/videos"): Operation(
        "List the caller's videos",
        USER,
        query=(
            ("after", STRING),
            ("limit", {"type": "integer", "minimum": 1, "maximum": 100}),
            ("order", {"enum": ["asc", "desc"]}),
        ),
    ),
    ("GET", "/videos/{id}"): Operation("Retrieve a video (OpenAI videos API)", USER),
    ("DELETE", "/videos/{id}"): Operation("Delete a video; a running one is cancelled", USER),
    ("GET", "/videos/{id}/content"): Operation(
        "Download a finished video's bytes", USER, query=(("variant", {"enum": ["video"]}),)
    ),
    ("POST", "/images/generations"): Operation(
        "Create images (OpenAI format), priced per image", USER, ref("OpenAIImagesRequest")
    ),
    ("POST", "/images/edits"): Operation(
        "Edit images (OpenAI format, multipart)",
        USER,
        ref("OpenAIImageEditsRequest"),
        content_type="multipart/form-data",
    ),
    ("GET", "/files/images/{id}"): Operation(
        "An image the gateway kept for a URL answer (no key: the URL is the secret)", PUBLIC
    ),
    ("POST", "/rerank"): Operation(
        "Rerank documents (Jina/Cohere format)", USER, ref("RerankRequest")
    ),
    ("POST", "/audio/speech"): Operation(
        "Create speech (OpenAI format; answers audio bytes)", USER, ref("OpenAISpeechRequest")
    ),
    ("POST", "/audio/transcriptions"): Operation(
        "Transcribe audio (OpenAI format)",
        USER,
        ref("OpenAITranscriptionRequest"),
        content_type="multipart/form-data",
    ),
    ("POST", "/audio/translations"): Operation(
        "Translate audio into English (OpenAI format)",
        USER,
        ref("OpenAITranscriptionRequest"),
        content_type="multipart/form-data",
    ),
    ("GET", "/responses/{id}"): Operation(
        "Retrieve a stored response (OpenAI Responses API)",
        USER,
        query=(("include", {"type": "array", "items": STRING}), ("stream", {"const": False})),
    ),
    ("DELETE", "/responses/{id}"): Operation("Delete a stored response", USER),
    ("GET", "/responses/{id}/input_items"): Operation(
        "List a stored response's input items, paged",
        USER,
        query=(
            ("after", STRING),
            ("limit", {"type": "integer", "minimum": 1, "maximum": MAX_ITEMS}),
            ("order", {"enum": ["asc", "desc"]}),
            ("include", {"type": "array", "items": STRING}),
        ),
    ),
    ("GET", "/models"): Operation(
        "List the models this key may use on any endpoint, each with its 'endpoints'", USER
    ),
    ("GET", "/models/{model:.+}"): Operation("Retrieve a model this key may use", USER),
    ("POST", "/messages"): Operation(
        "Create a message (Anthropic format)",
        USER,
        ref("AnthropicMessagesRequest"),
        query=_BETA_QUERY,
        headers=_BETA_HEADER,
        errors="AnthropicError",
    ),
    ("POST", "/messages/count_tokens"): Operation(
        "Count the input tokens of a message (Anthropic format)",
        USER,
        ref("AnthropicCountTokensRequest"),
        query=_BETA_QUERY,
        headers=_BETA_HEADER,
        errors="AnthropicError",
    ),
    # Expanded into one path per action (``{model}:generateContent`` ...), see _paths.
    ("POST", "/models/{target:.+}"): Operation("Gemini model action", USER),
    ("POST", "/billing/checkout"): Operation(
        "Open a Stripe Checkout top-up for the key's user", USER, ref("CheckoutRequest")
    ),
    ("POST", "/billing/webhook"): Operation(
        "Stripe reports a payment (authenticated by its signature)",
        PUBLIC,
        ref("StripeEvent"),
        headers=(("Stripe-Signature", {"type": "string", "maxLength": 500}),),
    ),
    ("GET", "/admin/settings"): Operation("Read the system settings", ADMIN),
    ("PATCH", "/admin/settings"): Operation("Change system settings", ADMIN, ref("SettingsPatch")),
    ("GET", "/admin/channels"): Operation("List upstream channels", ADMIN),
    ("POST", "/admin/channels"): Operation(
        "Create a channel", ADMIN, ref("ChannelCreate"), success=201
    ),
    ("GET", "/admin/channels/{id}"): Operation("Read a channel", ADMIN),
    ("PATCH", "/admin/channels/{id}"): Operation("Change a channel", ADMIN, ref("ChannelPatch")),
    ("DELETE", "/admin/channels/{id}"): Operation("Delete a channel", ADMIN),
    ("POST", "/admin/channels/{id}/test"): Operation(
        "Send a small probe to one endpoint of the channel's upstream",
        ADMIN,
        ref("ChannelTest"),
        query=(("model", STRING), ("endpoint", STRING)),
    ),
    ("GET", "/admin/models"): Operation("List the model catalog", ADMIN),
    ("POST", "/admin/models"): Operation(
        "Add a model and its prices", ADMIN, ref("ModelCreate"), success=201
    ),
    ("GET", "/admin/models/{id:.+}"): Operation("Read a catalog model", ADMIN),
    ("PATCH", "/admin/models/{id:.+}"): Operation(
        "Change a catalog model", ADMIN, ref("ModelPatch")
    ),
    ("DELETE", "/admin/models/{id:.+}"): Operation("Remove a catalog model", ADMIN),
    ("GET", "/admin/users"): Operation(
        "List users, paged (q: a piece of the email or name, any case)",
        ADMIN,
        query=(
            *PAGING,
            ("status", {"enum": ["active", "disabled", "deleted"]}),
            ("q", {"type": "string", "maxLength": users.MAX_QUERY}),
        ),
    ),
    ("POST", "/admin/users"): Operation("Create a user", ADMIN, ref("UserCreate"), success=201),
    ("GET", "/admin/users/{id}"): Operation("Read a user", ADMIN),
    ("PATCH", "/admin/users/{id}"): Operation("Change a user", ADMIN, ref("UserPatch")),
    ("DELETE", "/admin/users/{id}"): Operation("Mark a user deleted", ADMIN),
    ("GET", "/admin/tokens"): Operation(
        "List API keys, paged", ADMIN, query=(*PAGING, ("user_id", STRING))
    ),
    ("POST", "/admin/tokens"): Operation(
        "Create an API key (its secret is returned once)",
        ADMIN,
        ref("TokenCreate"),
        success=201,
    ),
    ("GET", "/admin/tokens/{id}"): Operation("Read an API key", ADMIN),
    ("PATCH", "/admin/tokens/{id}"): Operation("Change an API key", ADMIN, ref("TokenPatch")),
    ("DELETE", "/admin/tokens/{id}"): Operation("Revoke an API key", ADMIN),
    ("GET", "/balance"): Operation("The key's user's balance", USER),
    ("GET", "/billing/balance"): Operation("The key's user's balance, short", USER),
    ("GET", "/usage"): Operation(
        "The key's user's own usage rows, paged", USER, query=(*USAGE_FILTERS, *RANGE)
    ),
    ("GET", "/dashboard/billing/subscription"): Operation(
        "The key's spending limit (OpenAI legacy shape)", USER
    ),
    ("GET", "/dashboard/billing/usage"): Operation(
        "Spend in US cents (OpenAI legacy shape)", USER, query=RANGE
    ),
    ("POST", "/admin/topup"): Operation(
        "Credit a user's balance",
        ADMIN,
        ref("TopupRequest"),
        headers=(
            (
                "Idempotency-Key",
                {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY},
            ),
        ),
    ),
    ("GET", "/admin/redemptions"): Operation(
        "List redemption codes (hints only), paged",
        ADMIN,
        query=(
            *PAGING,
            ("status", {"enum": ["active", "disabled", "redeemed"]}),
            ("name", STRING),
        ),
    ),
    ("POST", "/admin/redemptions"): Operation(
        "Issue a batch of one-time codes (returned once)",
        ADMIN,
        ref("BatchCreate"),
        success=201,
    ),
    ("DELETE", "/admin/redemptions/{id}"): Operation("Disable a redemption code", ADMIN),
    ("POST", "/redeem"): Operation(
        "Redeem a one-time code for the key's user", USER, ref("RedeemRequest")
    ),
    ("GET", "/admin/usage"): Operation(
        "Billed calls, newest first, paged", ADMIN, query=(*USAGE_FILTERS, *RANGE)
    ),
    ("GET", "/admin/usage/summary"): Operation(
        "Totals per model, day, channel and user (cost: what users were charged)",
        ADMIN,
        query=(("user_id", STRING), ("model", STRING), *RANGE),
    ),
    ("GET", "/v1beta/models"): Operation(
        "List the models this key may use (Gemini format)", USER, errors="GeminiError"
    ),
    ("GET", "/v1beta/models/{target:.+}"): Operation(
        "Retrieve a model (Gemini format)", USER, errors="GeminiError"
    ),
    ("POST", "/v1beta/models/{target:.+}"): Operation("Gemini model action", USER),
    ("GET", "/openapi.json"): Operation("This document", PUBLIC),
    ("HEAD", "/"): Operation("Reachability probe of the base URL (200, no body)", PUBLIC),
    ("GET", "/health"): Operation("Liveness: 200 while the process serves", PUBLIC),
    ("GET", "/ready"): Operation(
        "Readiness: 200 when the database (and Redis, if configured) answer and the "
        "process is not draining, else 503 with Retry-After",
        PUBLIC,
    ),
    ("GET", "/metrics"): Operation("Prometheus metrics, summed across worker processes", PUBLIC),
    ("GET", "/"): Operation("The web console (a redirect to /console/)", PUBLIC),
    ("GET", "/console"): Operation("The web console (a redirect to /console/)", PUBLIC),
    ("GET", "/console/{path:.*}"): Operation("The web console's page and assets", PUBLIC),
}
_TAGS = {ADMIN: "management", PUBLIC: "public", USER: "client", CONSOLE: "console"}
OPERATIONS.update(CONSOLE_OPERATIONS)

_GEMINI_BODIES = {
    "generateContent": "GeminiGenerateContentRequest",
    "streamGenerateContent": "GeminiGenerateContentRequest",
    "countTokens": "GeminiCountTokensRequest",
    "embedContent": "GeminiEmbedContentRequest",
    "batchEmbedContents": "GeminiBatchEmbedContentsRequest",
}
_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")
_CLIENT_SECURITY: list[Schema] = [
    {"userKey": []},
    {"anthropicKey": []},
    {"googleKey": []},
    {"queryKey": []},
]


def _template(path: str) -> str:
    """aiohttp's ``{id:.+}`` as OpenAPI's ``{id}``; Gemini's ``target`` is the model."""
    return _PARAM.sub(lambda m: "{model}" if m[1] == "target" else "{" + m[1] + "}", path)


def _operation(method: str, path: str, op: Operation, body: Schema | None) -> Schema:
    names = _PARAM.findall(path)
    parameters: list[Schema] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for name in names
    ]
    parameters += [{"name": n, "in": "query", "schema": s} for n, s in op.query]
    parameters += [{"name": n, "in": "header", "schema": s} for n, s in op.headers]
    error = {"application/json": {"schema": ref(op.errors)}}
    spec: Schema = {
        "operationId": _operation_id(method, path),
        "summary": op.summary,
        "tags": [_TAGS[op.caller]],
        "parameters": parameters,
        "responses": {
            str(op.success): {"description": "Success", "content": {"application/json": {}}},
            "default": {"description": "An error in the caller's format", "content": error},
        },
    }
    if op.caller == ADMIN:
        spec["security"] = [{"managementKey": []}]
    elif op.caller == USER:
        spec["security"] = _CLIENT_SECURITY
    elif op.caller == CONSOLE:
        spec["security"] = [{"consoleSession": []}]
    else:
        spec["security"] = []
    if body is not None:
        spec["requestBody"] = {
            "required": op.caller != ADMIN or method == "POST",
            "content": {op.content_type: {"schema": body}},
        }
    return spec


def _operation_id(method: str, path: str) -> str:
    words = re.sub(r"[^A-Za-z0-9]+", "_", _PARAM.sub(r"by_\1", path)).strip("_")
    return f"{method.lower()}_{words}"


def _paths(table: Table) -> Schema:
    paths: Schema = {}
    for method, path, _handler in table:
        op = OPERATIONS[(method, path.removeprefix("/v1") if path.startswith("/v1/") else path)]
        if method == "POST" and path.endswith("/models/{target:.+}"):
            # Gemini's actions share one route; each is its own operation with its own body.
            stem = path.removesuffix("{target:.+}")
            for action in ACTIONS:
                template = f"{stem}{{model}}:{action}"
                gemini = Operation(f"Gemini {action}", USER, errors="GeminiError")
                spec = _operation(method, template, gemini, ref(_GEMINI_BODIES[action]))
                if action == "streamGenerateContent":
                    spec["parameters"].append(
                        {"name": "alt", "in": "query", "schema": {"enum": ["sse"]}}
                    )
                paths.setdefault(template, {})[method.lower()] = spec
            continue
        template = _template(path)
        paths.setdefault(template, {})[method.lower()] = _operation(
            method, _template(path), op, op.body
        )
    return paths


def _components() -> Schema:
    _refs, schemas = msgspec.json.schema_components(
        _STRUCTS, ref_template="#/components/schemas/{name}"
    )
    for (struct, name), values in _ENUMS.items():
        schemas[struct]["properties"][name] = {"enum": values}
    for struct in ("TokenCreate", "TokenPatch"):
        schemas[struct]["properties"]["permissions"] = _PERMISSIONS
        schemas[struct]["properties"]["quota_period"] = _QUOTA_PERIOD
    for struct in ("ChannelCreate", "ChannelPatch"):
        schemas[struct]["properties"]["endpoints"] = _ENDPOINT_LIST
        schemas[struct]["properties"]["anthropic_betas"] = _BETA_RULES
        schemas[struct]["properties"]["cost_multiplier"] = _COST_MULTIPLIER
    for struct in ("ModelCreate", "ModelPatch"):
        schemas[struct]["properties"]["pricing"] = _PRICING
    schemas.update(
        OpenAIChatRequest=bodies.OPENAI_CHAT,
        OpenAIEmbeddingsRequest=bodies.OPENAI_EMBEDDINGS,
        VideoGenerationRequest=bodies.VIDEO_GENERATION,
        OpenAIVideoRequest=bodies.OPENAI_VIDEO,
        OpenAIImagesRequest=bodies.OPENAI_IMAGES,
        OpenAIImageEditsRequest=bodies.OPENAI_IMAGE_EDITS,
        RerankRequest=bodies.RERANK,
        OpenAISpeechRequest=bodies.OPENAI_SPEECH,
        OpenAITranscriptionRequest=bodies.OPENAI_TRANSCRIPTION,
        OpenAIResponsesRequest=bodies.OPENAI_RESPONSES,
        OpenAIResponsesCompactRequest=bodies.OPENAI_RESPONSES_COMPACT,
        AnthropicMessagesRequest=bodies.ANTHROPIC_MESSAGES,
        AnthropicCountTokensRequest=bodies.ANTHROPIC_COUNT_TOKENS,
        GeminiGenerateContentRequest=bodies.GEMINI_GENERATE,
        GeminiCountTokensRequest=bodies.GEMINI_COUNT_TOKENS,
        GeminiEmbedContentRequest=bodies.GEMINI_EMBED_CONTENT,
        GeminiBatchEmbedContentsRequest=bodies.GEMINI_BATCH_EMBED_CONTENTS,
        CheckoutRequest=bodies.CHECKOUT,
        RedeemRequest=bodies.REDEEM,
        StripeEvent=bodies.STRIPE_EVENT,
        SettingsPatch=bodies.SETTINGS_PATCH,
        ChannelTest=bodies.CHANNEL_TEST,
        OpenAIError=bodies.OPENAI_ERROR,
        AnthropicError=bodies.ANTHROPIC_ERROR,
        GeminiError=bodies.GEMINI_ERROR,
    )
    return {
        "schemas": schemas,
        "securitySchemes": {
            "managementKey": {"type": "http", "scheme": "bearer", "description": "mgmt-..."},
            "userKey": {"type": "http", "scheme": "bearer", "description": "sk-..."},
            "anthropicKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
            "googleKey": {"type": "apiKey", "in": "header", "name": "x-goog-api-key"},
            "queryKey": {"type": "apiKey", "in": "query", "name": "key"},
            "consoleSession": {
                "type": "apiKey",
                "in": "cookie",
                "name": "airelay_session",
                "description": "a console session; writes also send X-CSRF-Token",
            },
        },
    }


def build(table: Table) -> Schema:
    """The document for the route ``table`` (method, path, handler); ``KeyError`` names a
    route that ``OPERATIONS`` does not describe."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "airelay",
            "version": __version__,
            "description": (
                "A self-hosted AI API gateway. Every /v1 path also answers without the /v1 "
                "prefix. Errors answer in the caller's format: OpenAI's, Anthropic's on "
                "/v1/messages, Google's on Gemini paths."
            ),
        },
        "paths": _paths(table),
        "components": _components(),
    }


@cache
def _document() -> bytes:
    from airelay.routes import documented_routes  # the table imports this module

    return orjson.dumps(build(documented_routes()))


async def openapi_json(request: web.Request) -> web.StreamResponse:
    return web.Response(body=_document(), content_type="application/json")
