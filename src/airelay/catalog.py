"""What a channel or a catalog model may be: the request shapes and the rules on their values.

Shared by the management API and ``airelay channels import``, so that both refuse the same
input with the same message. A broken rule raises ``GatewayError(400, ...)``; the API answers
it as is, the importer prefixes the entry it came from.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

import msgspec

from airelay.errors import GatewayError
from airelay.formats import openai_images
from airelay.formats.anthropic_betas import check_rules
from airelay.formats.names import DECLARABLE, Endpoint
from airelay.money import usd_to_units
from airelay.pricing import PER_MILLION, cost_multiplier_text
from airelay.providers.anthropic import Anthropic
from airelay.providers.base import ChecksBaseUrl
from airelay.providers.presets import CHANNEL_TYPES, preset
from airelay.providers.video_registry import video_tasks
from airelay.transport.options import ProxyUrl, TlsOptions, check_proxy, check_tls, tls_document

# Limits of the columns the values are stored in, so that SQLite and PostgreSQL refuse the
# same input (a 400 from the decoder, never a 500 from the store).
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Short = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Url = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
Int32 = Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]
Email = Annotated[str, msgspec.Meta(max_length=320)]
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]

UNSET: Any = msgspec.UNSET
CHANNEL_STATUSES = ("active", "disabled")
PRICE_FIELDS = (
    "input",
    "output",
    "cached_input",
    "cache_write_5m",
    "cache_write_1h",
    "per_request",
    "per_image",
    "per_video_second",
    "per_million_characters",
    "per_audio_minute",
)
TOKEN_PRICES = ("input", "output", "cached_input", "cache_write_5m", "cache_write_1h")
ENDPOINTS = tuple(endpoint.value for endpoint in DECLARABLE)


class ChannelCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    type: Short = "openai"
    base_url: Url | None = None
    api_keys: list[str] = msgspec.field(default_factory=list)
    api_key: str | None = None
    models: list[str] | None = None
    model_mapping: dict[str, str] = msgspec.field(default_factory=dict)
    priority: Int32 = 1
    weight: Int32 = 1
    status: Short = "active"
    timeout: float | None = None
    endpoints: list[str] | None = None  # None: the type's default
    # An egress proxy (http, https, socks5, socks5h URL) and TLS options: transport.options.
    proxy: ProxyUrl | None = None
    tls: TlsOptions | None = None
    # Rules for the anthropic-beta header sent to an anthropic channel: formats.anthropic_betas.
    anthropic_betas: dict[str, str | None] | None = None
    # What the gateway sends this upstream at most (None: no limit; 0 is refused).
    rpm: Int32 | None = None
    tpm: Int32 | None = None
    max_concurrency: Int32 | None = None
    # What the upstream costs the operator: the list price x this (None: not known).
    cost_multiplier: str | float | None = None


class ChannelPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | msgspec.UnsetType = UNSET
    type: Short | msgspec.UnsetType = UNSET
    base_url: Url | msgspec.UnsetType = UNSET
    api_keys: list[str] | msgspec.UnsetType = UNSET
    models: list[str] | msgspec.UnsetType = UNSET
    model_mapping: dict[str, str] | msgspec.UnsetType = UNSET
    priority: Int32 | msgspec.UnsetType = UNSET
    weight: Int32 | msgspec.UnsetType = UNSET
    status: Short | msgspec.UnsetType = UNSET
    timeout: float | msgspec.UnsetType | None = UNSET
    endpoints: list[str] | msgspec.UnsetType | None = UNSET  # null: back to the default
    proxy: ProxyUrl | msgspec.UnsetType | None = UNSET
    tls: TlsOptions | msgspec.UnsetType | None = UNSET
    anthropic_betas: dict[str, str | None] | msgspec.UnsetType | None = UNSET  # null: none
    rpm: Int32 | msgspec.UnsetType | None = UNSET  # null: no limit
    tpm: Int32 | msgspec.UnsetType | None = UNSET
    max_concurrency: Int32 | msgspec.UnsetType | None = UNSET
    cost_multiplier: str | float | msgspec.UnsetType | None = UNSET  # null: not known


class ModelCreate(msgspec.Struct, forbid_unknown_fields=True):
    id: Name
    owned_by: Label = "airelay"
    pricing: dict[str, Any] = msgspec.field(default_factory=dict)
    max_output_tokens: Int32 | None = None
    # False: the model does not reason (a translated call asks it for no thinking).
    reasoning: bool = True


class ModelPatch(msgspec.Struct, forbid_unknown_fields=True):
    owned_by: Label | msgspec.UnsetType = UNSET
    pricing: dict[str, Any] | msgspec.UnsetType = UNSET
    max_output_tokens: Int32 | msgspec.UnsetType | None = UNSET
    reasoning: bool | msgspec.UnsetType = UNSET


def one_of(value: str, allowed: tuple[str, ...], field: str) -> None:
    if value not in allowed:
        raise GatewayError(400, f"'{field}' must be one of: {', '.join(allowed)}")


def check_channel(values: dict[str, Any]) -> None:
    """The rules on channel fields; ``values`` holds the fields being set (all or some)."""
    if "name" in values and not values["name"].strip():
        raise GatewayError(400, "'name' must not be empty")
    if "type" in values:
        one_of(values["type"], CHANNEL_TYPES, "type")
    if "status" in values:
        one_of(values["status"], CHANNEL_STATUSES, "status")
    if "priority" in values and values["priority"] < 1:
        raise GatewayError(400, "'priority' must be 1 or more (1 is tried first)")
    if "weight" in values and values["weight"] < 0:
        raise GatewayError(400, "'weight' must be 0 or more")
    for field in ("rpm", "tpm", "max_concurrency"):
        if values.get(field) == 0:
            raise GatewayError(400, f"'{field}' must be 1 or more (null: no limit)")
    if values.get("cost_multiplier") is not None:
        try:
            values["cost_multiplier"] = cost_multiplier_text(values["cost_multiplier"])
        except ValueError as exc:
            raise GatewayError(400, str(exc)) from None
    if values.get("timeout") is not None and values["timeout"] <= 0:
        raise GatewayError(400, "'timeout' must be a positive number of seconds")
    base_url = values.get("base_url")
    if base_url is not None and not base_url.startswith(("http://", "https://")):
        raise GatewayError(400, "'base_url' must be an http(s) URL")
    for key in values.get("api_keys") or ():
        if not key.strip():
            raise GatewayError(400, "'api_keys' must not contain empty keys")
        if any(c in key for c in "\r\n\x00"):
            # It goes into a request header as it is.
            raise GatewayError(400, "'api_keys' must not contain line breaks or NUL")
    for name in values.get("models") or ():
        if not name.strip():
            raise GatewayError(400, "'models' must not contain empty names")
    if values.get("endpoints") is not None:
        values["endpoints"] = endpoint_list(values["endpoints"])
    try:
        if values.get("anthropic_betas") is not None:
            values["anthropic_betas"] = check_rules(values["anthropic_betas"]) or None
        if values.get("proxy") is not None:
            check_proxy(values["proxy"])
        if values.get("tls") is not None:
            check_tls(values["tls"])
    except ValueError as exc:
        raise GatewayError(400, str(exc)) from None


def channel_changes(body: ChannelPatch) -> dict[str, Any]:
    """The fields a patch sets, checked (keys stripped, still in the clear)."""
    values = {k: v for k, v in msgspec.structs.asdict(body).items() if v is not UNSET}
    check_channel(values)
    if "api_keys" in values:
        values["api_keys"] = [key.strip() for key in values["api_keys"]]
    return values


def sealed(values: dict[str, Any], encrypt: Callable[[str], str]) -> dict[str, Any]:
    """Channel columns as stored: keys, proxy and the TLS client key encrypted."""
    stored = dict(values)
    if "api_keys" in stored:
        stored["api_keys"] = [encrypt(key) for key in stored["api_keys"]]
    if stored.get("proxy") is not None:
        stored["proxy"] = encrypt(stored["proxy"])
    if stored.get("tls") is not None:
        stored["tls"] = tls_document(stored["tls"], encrypt)
    return stored


def endpoint_list(names: list[str]) -> list[str]:
    """``endpoints`` as stored: known names only, each once, in a fixed order."""
    for name in names:
        one_of(name, ENDPOINTS, "endpoints")
    if not names:
        raise GatewayError(
            400, "'endpoints' must name at least one endpoint (omit it for the type's default)"
        )
    return [name for name in ENDPOINTS if name in names]


def effective_endpoints(channel_type: str, stored: list[str] | None) -> list[str]:
    """What a channel serves: its ``endpoints``, or its type's default when not set."""
    if stored is not None:
        return stored
    default = preset(channel_type).provider.default_endpoints
    return [name for name in ENDPOINTS if name in default]


def check_type_fit(
    channel_type: str,
    endpoints: list[str] | None,
    api_keys: list[str],
    anthropic_betas: dict[str, str | None] | None = None,
    base_url: str | None = None,
) -> None:
    """The rules that depend on the channel type (of a whole channel, after a patch): the
    endpoints it can serve, the shape of its keys (``bedrock``: AWS credentials), the
    settings its ``base_url`` carries (``vertex``: project and region; ``azure``: API
    version), and beta rules only where the ``anthropic-beta`` header is passed on (else
    they would do nothing)."""
    provider = preset(channel_type).provider
    if base_url is not None and isinstance(provider, ChecksBaseUrl):
        if not base_url:
            raise GatewayError(400, f"a {channel_type} channel needs its own 'base_url'")
        served = frozenset(Endpoint(name) for name in effective_endpoints(channel_type, endpoints))
        try:
            provider.check_base_url(base_url, served)
        except ValueError as exc:
            raise GatewayError(400, f"'base_url': {exc}") from None
    if anthropic_betas and not isinstance(provider, Anthropic):
        raise GatewayError(
            400,
            f"'anthropic_betas' applies to anthropic channels only (a {channel_type} "
            "channel gets no anthropic-beta header)",
        )
    cannot = [name for name in endpoints or () if name not in provider.endpoints]
    if cannot:
        can = ", ".join(name for name in ENDPOINTS if name in provider.endpoints)
        raise GatewayError(
            400, f"a {channel_type} channel cannot serve {', '.join(cannot)} (it serves: {can})"
        )
    if "video" in (endpoints or ()) and video_tasks(channel_type) is None:
        raise GatewayError(400, f"a {channel_type} channel has no video task API")
    for key in api_keys:
        try:
            provider.check_key(key.strip())
        except ValueError as exc:
            raise GatewayError(400, f"'api_keys': {exc}") from None


def new_channel(body: ChannelCreate) -> dict[str, Any]:
    """The columns of a new channel, checked, with its type's defaults filled in.

    ``api_key`` (one key) joins ``api_keys``; the keys are stripped but still in the clear:
    the caller encrypts them.
    """
    values = msgspec.structs.asdict(body)
    api_keys = list(values.pop("api_keys"))
    single = values.pop("api_key")
    if single:
        api_keys.append(single)
    values["api_keys"] = api_keys
    check_channel(values)
    defaults = preset(values["type"])
    if values["base_url"] is None:
        values["base_url"] = defaults.base_url
    check_type_fit(
        values["type"], values["endpoints"], api_keys, values["anthropic_betas"], values["base_url"]
    )
    if values["models"] is None:
        values["models"] = list(defaults.models)
    values["api_keys"] = [key.strip() for key in api_keys]
    return values


def _units(name: str, value: object) -> int:
    try:
        amount = usd_to_units(value)
    except ValueError as exc:
        raise GatewayError(400, f"pricing.{name}: {exc}") from exc
    if amount < 0:
        raise GatewayError(400, f"pricing.{name} must not be negative")
    if name in TOKEN_PRICES and amount % PER_MILLION:
        raise GatewayError(
            400, f"pricing.{name}: a price per 1M tokens has at most 4 decimals (USD)"
        )
    return amount


def pricing_units(pricing: dict[str, Any]) -> dict[str, Any]:
    """USD prices as exact units; unknown fields and bad numbers are a 400.

    ``per_image`` is one price, or prices by ``size`` or ``size/quality``
    (``{"1024x1024": 0.04, "1024x1024/hd": 0.08}``); ``per_video_second`` one price, or
    prices by resolution or size, with an optional ``default``
    (``{"720p": 0.1, "1080p": 0.2}``).
    """
    units: dict[str, Any] = {}
    for name, value in pricing.items():
        if name not in PRICE_FIELDS:
            raise GatewayError(400, f"unknown price '{name}'; known: {', '.join(PRICE_FIELDS)}")
        if value is None:
            continue
        if name == "per_image" and isinstance(value, dict):
            units[name] = {_image_key(k): _units(f"per_image.{k}", v) for k, v in value.items()}
        elif name == "per_video_second" and isinstance(value, dict):
            units[name] = {str(k): _units(f"{name}.{k}", v) for k, v in value.items()}
        else:
            units[name] = _units(name, value)
    return units


_IMAGE_KEY = re.compile(
    r"default|(?:auto|[1-9][0-9]{1,4}x[1-9][0-9]{1,4})"
    rf"(?:/(?:{'|'.join(openai_images.QUALITIES)}))?"
)


def _image_key(key: str) -> str:
    """A key of a per-image price table, as calls look it up (``pricing.image_price``): a
    key no call can match would price nothing, so it is refused."""
    if not _IMAGE_KEY.fullmatch(key):
        raise GatewayError(
            400,
            f"pricing.per_image: unknown key '{key}'; use SIZE (1024x1024 or auto), "
            "SIZE/QUALITY (1024x1024/hd) or default",
        )
    return key


def check_max_output_tokens(value: int | None) -> None:
    if value is not None and value < 1:
        raise GatewayError(400, "'max_output_tokens' must be 1 or more")


def new_model(body: ModelCreate) -> dict[str, Any]:
    """The columns of a new catalog model (prices in exact units), checked."""
    if not body.id.strip():
        raise GatewayError(400, "'id' must not be empty")
    pricing = pricing_units(body.pricing)
    check_max_output_tokens(body.max_output_tokens)
    return {
        "id": body.id,
        "owned_by": body.owned_by,
        "pricing": pricing,
        "max_output_tokens": body.max_output_tokens,
        "reasoning": body.reasoning,
    }
