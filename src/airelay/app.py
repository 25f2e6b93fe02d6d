"""The aiohttp application: routes and what lives for the process."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from airelay import mailer
from airelay.billing import tokens
from airelay.billing.retention import UsageRetention
from airelay.billing.wallets import Wallets, WalletSettings
from airelay.client import Timeouts
from airelay.config import Settings
from airelay.observe import access, metrics
from airelay.observe.tracing import open_tracing
from airelay.relay.admission import Admission
from airelay.relay.affinity import open_affinity
from airelay.relay.collaborators import Relay
from airelay.relay.health import channel_health
from airelay.relay.images import fetch_transport
from airelay.relay.limits import open_limits
from airelay.relay.upstream import create_session
from airelay.routes import add_routes
from airelay.security.compaction_seal import Sealer
from airelay.security.crypto import SecretBox, load_or_create_secret
from airelay.security.forwarded import TrustedProxies, parse_networks
from airelay.security.signature_seal import SignatureSealer
from airelay.state import STATE, AppState
from airelay.store.config_bus import ConfigBus
from airelay.store.db import create_engine
from airelay.store.image_files import open_image_files
from airelay.store.response_writer import ResponseWriter
from airelay.store.schema import check_schema
from airelay.store.snapshot import ConfigCache
from airelay.surfaces.console.session import CONSOLE, ConsoleState
from airelay.surfaces.console.throttle_redis import open_throttle
from airelay.transport.choice import Transports
from airelay.transport.options import EnvProxies
from airelay.videos.lifecycle import open_videos


def create_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=settings.max_body_bytes)
    proxies = settings.trusted_proxies
    add_routes(app.router, TrustedProxies(parse_networks(proxies)) if proxies else None)
    app[CONSOLE] = ConsoleState()
    app.cleanup_ctx.append(_lifespan(settings))
    return app


def _lifespan(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    # Read once, and refused at start-up if a variable holds a proxy that cannot be used.
    env = EnvProxies(os.environ) if settings.upstream_trust_env else None

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        try:
            await check_schema(engine)  # serve only the schema this code was written for
        except BaseException:
            await engine.dispose()
            raise
        secret = load_or_create_secret(settings.secret_key, settings.data_dir)
        box = SecretBox(secret)
        bus = None
        if settings.redis_url:
            bus = ConfigBus(settings.redis_url, timeout=settings.redis_timeout)
        cache = ConfigCache(engine, box, settings.config_poll_seconds, bus)
        await cache.start()
        wallets = Wallets(
            engine,
            WalletSettings(
                flush_interval=settings.billing_flush_seconds,
                stale_after_seconds=settings.hold_stale_seconds,
                heartbeat_seconds=min(5.0, settings.hold_stale_seconds / 4),
            ),
        )
        await wallets.start()
        stored_responses = ResponseWriter(engine)
        await stored_responses.start()
        retention = UsageRetention(
            engine,
            settings.usage_retention_days,
            responses=True,
            video_days=settings.responses_retention_days,
        )
        await retention.start()
        http = create_session(settings.upstream_connect_timeout, settings.upstream_timeout)
        upstream = Transports(
            Timeouts(
                settings.upstream_connect_timeout,
                settings.upstream_timeout,
                total=settings.upstream_total_timeout or None,
            ),
            max_body=settings.max_upstream_answer_bytes,
            max_per_origin=settings.upstream_max_connections_per_origin,
            env=env,
        )
        images = fetch_transport()
        admission = Admission(settings.max_inflight_calls)
        affinity = open_affinity(settings.affinity_ttl, settings.redis_url, settings.redis_timeout)
        limits = open_limits(
            settings.redis_url,
            settings.limits_redis_failure,
            settings.redis_client,
            settings.limits_leases,
            settings.redis_timeout,
        )
        app[CONSOLE].throttle = open_throttle(settings)
        videos, stop_videos = await open_videos(settings, engine, wallets, upstream, cache)
        health = channel_health(settings)
        tracing = open_tracing(settings.otel_endpoint)
        access.configure(settings.access_log, tracing)
        metrics_flush = asyncio.create_task(metrics.flushing())
        app[STATE] = AppState(
            settings=settings,
            engine=engine,
            box=box,
            cache=cache,
            http=http,
            upstream=upstream,
            wallets=wallets,
            images=images,
            admission=admission,
            relay=Relay(
                settings,
                wallets,
                upstream,
                images,
                admission,
                limits=limits,
                affinity=affinity,
                sealer=SignatureSealer(secret),
                health=health,
            ),
            responses=stored_responses,
            sealer=Sealer(secret),
            videos=videos,
            image_files=open_image_files(
                settings.image_dir or settings.data_dir / "images",
                settings.image_url_ttl,
                bucket=settings.image_s3_bucket,
                endpoint=settings.image_s3_endpoint,
                region=settings.image_s3_region,
                access_key_id=settings.image_s3_access_key_id,
                secret_access_key=settings.image_s3_secret_access_key,
            ),
        )
        try:
            yield
        finally:
            metrics_flush.cancel()
            await asyncio.gather(metrics_flush, return_exceptions=True)
            await stop_videos()
            await retention.stop()
            await stored_responses.stop()
            await tokens.settled()  # usage being counted, before the last flush
            await wallets.stop()
            await cache.stop()
            await http.close()
            await upstream.close()
            await images.close()
            await app[STATE].image_files.close()
            if affinity is not None:
                await affinity.close()
            await limits.close()
            await app[CONSOLE].throttle.close()
            await mailer.settled()
            await engine.dispose()
            if tracing is not None:
                access.stop_tracing(tracing)
                tracing.shutdown()

    return lifespan
