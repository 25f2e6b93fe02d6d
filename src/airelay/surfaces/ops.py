"""Operations routes, without a key: liveness, readiness and Prometheus metrics.

``GET /health`` answers 200 while the process serves. ``GET /ready`` answers 200 when the
database (and Redis, when ``AIRELAY_REDIS_URL`` is set) answered just now and the process
is not draining (shutting down), else 503 with ``Retry-After``, so that a load balancer
sends calls elsewhere. ``GET /metrics`` is the Prometheus text, summed across the worker
processes of the instance.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from airelay.observe import metrics
from airelay.state import STATE
from airelay.store.reachable import database_problem, redis_problem
from airelay.store.unavailable import RETRY_AFTER_SECONDS
from airelay.surfaces.responses import json_response


async def health(request: web.Request) -> web.StreamResponse:
    return json_response({"status": "ok"})


async def ready(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    checks: dict[str, str] = {}
    problems: dict[str, str] = {}
    if state.draining:
        problems["draining"] = "the process is shutting down"
    redis_url = state.settings.redis_url
    database, redis = await asyncio.gather(
        database_problem(state.engine),
        redis_problem(redis_url, state.settings.redis_timeout) if redis_url else _nothing(),
    )
    for name, problem, configured in (
        ("database", database, True),
        ("redis", redis, bool(redis_url)),
    ):
        if not configured:
            continue
        checks[name] = "ok" if problem is None else "unavailable"
        if problem is not None:
            problems[name] = problem
    if problems:
        body = {"status": "unavailable", "checks": checks, "problems": problems}
        response = json_response(body, status=503)
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return json_response({"status": "ready", "checks": checks})


async def metrics_text(request: web.Request) -> web.StreamResponse:
    metrics.flush()
    if metrics.multiprocess():  # reads every worker's files: off the event loop
        body = await asyncio.to_thread(metrics.exposition)
    else:
        body = metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": metrics.CONTENT_TYPE})


async def _nothing() -> None:
    return None
