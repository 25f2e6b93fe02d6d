"""The route table. Every route also answers without the ``/v1`` prefix, because the OpenAI
SDK pointed at the bare host calls ``/chat/completions``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from airelay.security.forwarded import TrustedProxies
from airelay.surfaces import (
    account,
    anthropic,
    audio,
    billing,
    gemini,
    model_lists,
    openai_chat,
    openai_embeddings,
    openai_images,
    ops,
    probe,
    redeem,
    rerank,
    responses_api,
    responses_compact,
    responses_store,
    videos,
)
from airelay.surfaces.admin import (
    channels,
    models,
    redemptions,
    settings,
    tokens,
    topup,
    usage,
    users,
)
from airelay.surfaces.console.routes import CONSOLE_ROUTES
from airelay.surfaces.endpoint import endpoint, unmatched
from airelay.surfaces.openapi import openapi_json

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ROUTES: list[tuple[str, str, Handler]] = [
    ("POST", "/chat/completions", openai_chat.chat_completions),
    ("POST", "/responses", responses_api.create_response),
    ("POST", "/responses/compact", responses_compact.compact_response),
    ("POST", "/embeddings", openai_embeddings.embeddings),
    ("POST", "/images/generations", openai_images.generations),
    ("POST", "/images/edits", openai_images.edits),
    ("GET", "/files/images/{id}", openai_images.stored_image),
    ("POST", "/rerank", rerank.rerank_documents),
    ("POST", "/audio/speech", audio.speech),
    ("POST", "/audio/transcriptions", audio.transcriptions),
    ("POST", "/audio/translations", audio.translations),
    ("GET", "/responses/{id}", responses_store.get_response),
    ("DELETE", "/responses/{id}", responses_store.delete_response),
    ("GET", "/responses/{id}/input_items", responses_store.list_input_items),
    ("POST", "/videos/generations", videos.create_generation),
    ("GET", "/videos/generations/{id}", videos.get_generation),
    ("POST", "/videos", videos.create_video),
    ("GET", "/videos", videos.list_videos),
    ("GET", "/videos/{id}", videos.get_video),
    ("DELETE", "/videos/{id}", videos.delete_video),
    ("GET", "/videos/{id}/content", videos.download_content),
    ("GET", "/models", model_lists.list_models),
    ("GET", "/models/{model:.+}", model_lists.retrieve_model),
    ("POST", "/messages", anthropic.messages),
    ("POST", "/messages/count_tokens", anthropic.count_tokens),
    # The google-genai SDK's default API version is v1 on some releases: same handlers.
    ("POST", "/models/{target:.+}", gemini.model_action),
    ("POST", "/billing/checkout", billing.create_checkout),
    ("POST", "/billing/webhook", billing.stripe_webhook),
    ("GET", "/admin/settings", settings.get_settings),
    ("PATCH", "/admin/settings", settings.update_settings),
    ("GET", "/admin/channels", channels.list_channels),
    ("POST", "/admin/channels", channels.create_channel),
    ("GET", "/admin/channels/{id}", channels.get_channel),
    ("PATCH", "/admin/channels/{id}", channels.update_channel),
    ("DELETE", "/admin/channels/{id}", channels.delete_channel),
    ("POST", "/admin/channels/{id}/test", channels.test_channel),
    ("GET", "/admin/models", models.list_models),
    ("POST", "/admin/models", models.create_model),
    ("GET", "/admin/models/{id:.+}", models.get_model),
    ("PATCH", "/admin/models/{id:.+}", models.update_model),
    ("DELETE", "/admin/models/{id:.+}", models.delete_model),
    ("GET", "/admin/users", users.list_users),
    ("POST", "/admin/users", users.create_user),
    ("GET", "/admin/users/{id}", users.get_user),
    ("PATCH", "/admin/users/{id}", users.update_user),
    ("DELETE", "/admin/users/{id}", users.delete_user),
    ("GET", "/admin/tokens", tokens.list_tokens),
    ("POST", "/admin/tokens", tokens.create_token),
    ("GET", "/admin/tokens/{id}", tokens.get_token),
    ("PATCH", "/admin/tokens/{id}", tokens.update_token),
    ("DELETE", "/admin/tokens/{id}", tokens.revoke_token),
    ("GET", "/balance", account.balance),
    ("GET", "/billing/balance", account.billing_balance),
    ("GET", "/usage", account.usage),
    ("GET", "/dashboard/billing/subscription", account.dashboard_subscription),
    ("GET", "/dashboard/billing/usage", account.dashboard_usage),
    ("POST", "/admin/topup", topup.topup),
    ("GET", "/admin/redemptions", redemptions.list_redemptions),
    ("POST", "/admin/redemptions", redemptions.create_batch),
    ("DELETE", "/admin/redemptions/{id}", redemptions.disable_redemption),
    ("POST", "/redeem", redeem.redeem),
    ("GET", "/admin/usage", usage.list_usage),
    ("GET", "/admin/usage/summary", usage.usage_summary),
]


# Gemini's own version prefix, served as it is.
GEMINI_ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/v1beta/models", model_lists.gemini_list_models),
    ("GET", "/v1beta/models/{target:.+}", model_lists.gemini_get_model),
    ("POST", "/v1beta/models/{target:.+}", gemini.model_action),
]


# Served as they are, without a version prefix, and without a key.
PUBLIC_ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/openapi.json", openapi_json),
    ("HEAD", "/", probe.head_root),
    ("GET", "/health", ops.health),
    ("GET", "/ready", ops.ready),
    ("GET", "/metrics", ops.metrics_text),
]


# The relay's busiest routes, served by the gateway's own HTTP front (``airelay.front``)
# under these paths and under ``/v1`` + each; every other route is served by aiohttp.
FRONT_PATHS = ("/chat/completions", "/responses", "/messages")


def front_paths() -> list[str]:
    """Every path the front serves, as the route table has it."""
    return [prefix + path for path in FRONT_PATHS for prefix in ("/v1", "")]


def documented_routes() -> list[tuple[str, str, Handler]]:
    """Every route once, as ``GET /openapi.json`` describes it (``ROUTES`` with ``/v1``)."""
    table = list(GEMINI_ROUTES)
    table.extend((method, "/v1" + path, handler) for method, path, handler in ROUTES)
    return table + PUBLIC_ROUTES + CONSOLE_ROUTES


def add_routes(router: web.UrlDispatcher, proxies: TrustedProxies | None = None) -> None:
    """Every route, each handler wrapped (``endpoint``); ``proxies``: whose X-Forwarded-For
    names the client."""
    table = documented_routes()
    table.extend(ROUTES)  # each also without the /v1 prefix
    for method, path, handler in table:
        router.add_route(method, path, endpoint(handler, proxies))
    # (?s): a decoded line break in a path must reach the catch-all too, else aiohttp
    # answers a plain-text 404 of its own.
    router.add_route("*", "/{tail:(?s:.*)}", endpoint(unmatched, proxies, "other"))
