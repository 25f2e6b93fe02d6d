"""The transport for channels behind an egress proxy: aiohttp, with aiohttp-socks for SOCKS5.

An HTTP or HTTPS proxy carries an ``https://`` upstream through a CONNECT tunnel and an
``http://`` one as absolute-form requests; a SOCKS5 proxy carries both. TLS to the upstream
uses the channel's context (its CA bundle, client certificate, ``verify``). aiohttp's own
errors are translated to the client's (``TimeoutError``, ``ConnectFailed``,
``Disconnected``, ``ProtocolFailure``) so the relay handles both transports alike.

The proxy's credentials are sent in ``Proxy-Authorization`` (HTTP) or the SOCKS5
handshake; they never appear in the URL aiohttp prints in its errors.
"""

from __future__ import annotations

import base64
import ssl

import aiohttp
import yarl
from aiohttp_socks import (
    ProxyConnectionError,
    ProxyConnector,
    ProxyError,
    ProxyTimeoutError,
    ProxyType,
)

from airelay.client import (
    ConnectFailed,
    Disconnected,
    ProtocolFailure,
    Target,
    Timeouts,
    TooLarge,
    UpstreamError,
)
from airelay.client.dial import DNS_TTL, HAPPY_EYEBALLS_DELAY

_PROXY_FAILURES = (
    aiohttp.ClientProxyConnectionError,
    aiohttp.ClientHttpProxyError,
    ProxyError,
    ProxyConnectionError,
)


class ProxiedResponse:
    """An aiohttp answer behind the ``UpstreamResponse`` interface."""

    __slots__ = ("_max_body", "_response", "headers", "status")

    def __init__(self, response: aiohttp.ClientResponse, max_body: int) -> None:
        self._response = response
        self._max_body = max_body
        self.status = response.status
        headers: dict[str, str] = {}
        for name, value in response.headers.items():
            name = name.lower()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        self.headers = headers

    async def read(self) -> bytes:
        if (self._response.content_length or 0) > self._max_body:
            raise _too_large(self._max_body)
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in self._response.content.iter_any():
                size += len(chunk)
                if size > self._max_body:
                    raise _too_large(self._max_body)
                chunks.append(chunk)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise translated(exc) from exc
        return b"".join(chunks)

    async def readany(self) -> bytes:
        try:
            return await self._response.content.readany()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise translated(exc) from exc

    @property
    def ready(self) -> bool:
        return self._response.content.is_eof()

    def release(self) -> None:
        self._response.release()

    def close(self) -> None:
        self._response.close()


class ProxiedTransport:
    """Calls through one proxy with one TLS context: one aiohttp session, its own pool."""

    def __init__(
        self,
        proxy: str,
        ssl_context: ssl.SSLContext | None,
        timeouts: Timeouts,
        *,
        max_body: int,
        max_per_origin: int,
        keepalive: float = 60.0,
    ) -> None:
        url = yarl.URL(proxy)
        tls: ssl.SSLContext | bool = True if ssl_context is None else ssl_context
        self._proxy: yarl.URL | None = None
        self._proxy_headers: dict[str, str] | None = None
        self._plain_auth: tuple[str, str] | None = None
        connector: aiohttp.BaseConnector
        if url.scheme in ("socks5", "socks5h"):
            assert url.host is not None and url.port is not None  # checked when written
            connector = ProxyConnector(
                proxy_type=ProxyType.SOCKS5,
                host=url.host,
                port=url.port,
                username=url.user,
                password=url.password,
                rdns=url.scheme == "socks5h",
                ssl=tls,
                limit=0,
                limit_per_host=max_per_origin,
                keepalive_timeout=keepalive,
            )
        else:
            connector = aiohttp.TCPConnector(
                ssl=tls,
                limit=0,
                limit_per_host=max_per_origin,
                keepalive_timeout=keepalive,
                ttl_dns_cache=int(DNS_TTL),
                happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY,
            )
            self._proxy = url.with_user(None).with_password(None)
            if url.user is not None:
                credentials = f"{url.user}:{url.password or ''}".encode()
                auth = "Basic " + base64.b64encode(credentials).decode("ascii")
                # CONNECT carries it for https upstreams; each request for http ones.
                self._proxy_headers = {"Proxy-Authorization": auth}
                self._plain_auth = ("Proxy-Authorization", auth)
        self._max_body = max_body
        self._default_total = timeouts.total
        self._timeouts: dict[Timeouts, aiohttp.ClientTimeout] = {}
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout(timeouts),
            trust_env=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
        )

    async def send(
        self, target: Target, body: bytes, timeouts: Timeouts | None = None
    ) -> ProxiedResponse:
        timeout = self._session.timeout if timeouts is None else self._timeout(timeouts)
        fields = target.fields
        if self._plain_auth is not None and not target.tls:
            fields = (*fields, self._plain_auth)
        try:
            response = await self._session.request(
                target.method,
                target.url,
                data=body if target.sized else None,
                headers=fields,
                proxy=self._proxy,
                proxy_headers=self._proxy_headers,
                timeout=timeout,
                allow_redirects=False,
            )
        except (aiohttp.ClientError, TimeoutError, *_PROXY_FAILURES) as exc:
            raise translated(exc) from exc
        return ProxiedResponse(response, self._max_body)

    async def close(self) -> None:
        await self._session.close()

    def _timeout(self, timeouts: Timeouts) -> aiohttp.ClientTimeout:
        """aiohttp's form of ``timeouts``, made once per distinct value (channels share a
        few)."""
        timeout = self._timeouts.get(timeouts)
        if timeout is None:
            total = self._default_total if timeouts.total is None else timeouts.total
            timeout = self._timeouts[timeouts] = aiohttp.ClientTimeout(
                total=total,
                connect=timeouts.connect,  # waiting for a pooled connection included
                sock_connect=timeouts.connect,
                sock_read=timeouts.read,
            )
        return timeout


def translated(exc: BaseException) -> Exception:
    """aiohttp's (or the SOCKS client's) failure as the own client names it."""
    if isinstance(exc, TimeoutError | ProxyTimeoutError):
        return TimeoutError(f"the upstream did not answer in time ({type(exc).__name__})")
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, _PROXY_FAILURES):
        return ConnectFailed(f"through the proxy: {detail}")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ConnectFailed(detail)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return Disconnected(detail)
    if isinstance(exc, aiohttp.ClientOSError):
        return Disconnected(detail)
    if isinstance(exc, aiohttp.ClientResponseError):
        return ProtocolFailure(detail)
    return UpstreamError(detail)


def _too_large(limit: int) -> TooLarge:
    return TooLarge(f"the upstream's answer is larger than {limit} bytes")
