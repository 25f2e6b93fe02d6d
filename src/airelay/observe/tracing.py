"""Optional OpenTelemetry traces: one span per relayed call, sent over OTLP/HTTP.

On only when both hold: an endpoint is set (``AIRELAY_OTEL_ENDPOINT``, the collector's base
URL, or the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``
that the exporter reads itself, with ``OTEL_EXPORTER_OTLP_HEADERS`` and the rest), and the
``otel`` extra is installed (``pip install 'airelay[otel]'``). Off, nothing of OpenTelemetry
is imported and a call pays nothing: the SDK is imported here, once, at start-up.

The span is made when the request ends, from the access record the relay fills in anyway
(see ``airelay.observe.access``), with the call's own start and end times: no trace context
is carried through the relay, and a call never waits on the collector (a batch processor
exports from its own thread, dropping spans when its queue is full). A span holds the
call's surface, status, model, channel, key id, request id and token counts, never a
prompt, a header or a key.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

STANDARD_ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


class Tracing:
    """Spans of relayed calls on one tracer provider."""

    def __init__(self, provider: Any, status_error: Any, kind: Any) -> None:
        self._provider = provider
        self._tracer = provider.get_tracer("airelay")
        self._error = status_error
        self._kind = kind

    def call(
        self,
        *,
        surface: str,
        method: str,
        request_id: str,
        status: int,
        started_ns: int,
        ended_ns: int,
        key_id: str | None,
        model: str,
        channel: str | None,
        prompt_tokens: int | None,
        completion_tokens: int | None,
    ) -> None:
        attributes: dict[str, str | int] = {
            "http.request.method": method,
            "http.response.status_code": status,
            "airelay.surface": surface,
            "airelay.request_id": request_id,
            "gen_ai.request.model": model,
        }
        if key_id is not None:
            attributes["airelay.key_id"] = key_id
        if channel is not None:
            attributes["airelay.channel"] = channel
        if prompt_tokens is not None:
            attributes["gen_ai.usage.input_tokens"] = prompt_tokens
        if completion_tokens is not None:
            attributes["gen_ai.usage.output_tokens"] = completion_tokens
        span = self._tracer.start_span(
            f"{surface} {model}", kind=self._kind, attributes=attributes, start_time=started_ns
        )
        if status >= 500:
            span.set_status(self._error)
        span.end(end_time=ended_ns)

    def shutdown(self) -> None:
        """Send what is queued and stop (at the end of the process's serving)."""
        self._provider.shutdown()


def endpoint_of(setting: str | None, env: Mapping[str, str]) -> str | None:
    """The collector's traces URL from ``AIRELAY_OTEL_ENDPOINT`` (a base URL, as the
    standard variable is), ``""`` when only the standard variables name one (the exporter
    reads them), None when traces are off."""
    if setting:
        return setting.rstrip("/") + "/v1/traces"
    if any(env.get(name) for name in STANDARD_ENDPOINTS):
        return ""
    return None


def open_tracing(
    setting: str | None, env: Mapping[str, str] | None = None, exporter: Any = None
) -> Tracing | None:
    """The tracer for this process, or None when traces are off (no endpoint, or the
    ``otel`` extra missing: said once in the log). ``exporter`` replaces OTLP (tests)."""
    env = os.environ if env is None else env
    endpoint = endpoint_of(setting, env)
    if endpoint is None and exporter is None:
        return None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace import SpanKind, Status, StatusCode

        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter()
    except ImportError as exc:
        log.warning(
            "an OpenTelemetry endpoint is set but %s is not installed "
            "(pip install 'airelay[otel]'): traces are off",
            exc.name,
        )
        return None
    service = env.get("OTEL_SERVICE_NAME") or "airelay"
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return Tracing(provider, Status(StatusCode.ERROR), SpanKind.SERVER)
