"""How a channel reaches its upstream besides the URL: an egress proxy and TLS options.

``proxy`` is a URL: ``http://``, ``https://`` (the proxy is spoken to over TLS),
``socks5://`` (names resolved by the gateway) or ``socks5h://`` (by the proxy), with
optional ``user:password@`` credentials. It is stored encrypted and shown masked.

``tls`` is ``{"verify": bool, "ca_bundle": PEM, "client_cert": PEM, "client_key": PEM}``,
every field optional: ``ca_bundle`` replaces the system's trust store for the channel (as
``curl --cacert`` does), ``verify: false`` accepts any certificate, ``client_cert`` with
``client_key`` (unencrypted PEM; stored encrypted) answers a server that asks for one.

Every value is checked when it is written (a 400 says what is wrong), so that building the
transport later cannot fail on it.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
import tempfile
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import msgspec
import yarl

PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
Pem = Annotated[str, msgspec.Meta(min_length=1, max_length=256 * 1024)]
ProxyUrl = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class TlsOptions(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    verify: bool = True
    ca_bundle: Pem | None = None
    client_cert: Pem | None = None
    client_key: Pem | None = None


# -- proxies -----------------------------------------------------------------------------


def check_proxy(url: str) -> None:
    """Raise ``ValueError`` (its message fit for a 400) unless ``url`` is a proxy URL."""
    try:
        parsed = yarl.URL(url)
    except ValueError as exc:
        raise ValueError(f"'proxy' is not a URL: {exc}") from None
    if parsed.scheme not in PROXY_SCHEMES:
        raise ValueError(f"'proxy' must be a URL of scheme {', '.join(PROXY_SCHEMES)}")
    if not parsed.raw_host:
        raise ValueError("'proxy' has no host")
    try:
        port = parsed.explicit_port
    except ValueError:
        raise ValueError("'proxy' has an invalid port") from None
    if parsed.scheme.startswith("socks") and port is None:
        raise ValueError("a SOCKS 'proxy' needs a port (socks5://host:1080)")
    if parsed.raw_path not in ("", "/") or parsed.raw_query_string or parsed.raw_fragment:
        raise ValueError("'proxy' must not have a path, query or fragment")
    if any(c in url for c in "\r\n\x00 "):
        raise ValueError("'proxy' must not contain spaces, line breaks or NUL")


def mask_proxy(url: str) -> str:
    """The proxy URL with its password hidden: ``socks5://alice:***@proxy:1080``."""
    try:
        parsed = yarl.URL(url)
    except ValueError:
        return "[invalid]"
    if parsed.raw_password is not None:
        parsed = parsed.with_password("***")
    return str(parsed)


def proxy_secrets(url: str) -> tuple[str, ...]:
    """What an error message must not show of a proxy: its URL and its password."""
    try:
        password = yarl.URL(url).password
    except ValueError:
        password = None
    return (url, password) if password else (url,)


class EnvProxies:
    """The ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``ALL_PROXY`` / ``NO_PROXY`` variables, read
    once (when the operator opts in with ``AIRELAY_UPSTREAM_TRUST_ENV``) and checked like a
    channel's ``proxy``: a value the gateway could not use stops it at start-up."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        proxies: dict[str, str] = {}
        # Lower case wins, as in curl and urllib; upper case HTTP_PROXY is the CGI hazard
        # urllib guards against only under CGI, which a gateway never runs as.
        for name, value in environ.items():
            lower = name.lower()
            if value and lower.endswith("_proxy") and (name == lower or lower not in proxies):
                proxies[lower.removesuffix("_proxy")] = value
        self._proxies = proxies
        for scheme in ("http", "https", "all"):
            if scheme in proxies:
                try:
                    check_proxy(proxies[scheme])
                except ValueError as exc:
                    raise ValueError(f"{scheme.upper()}_PROXY: {exc}") from None

    def proxy_for(self, url: str) -> str | None:
        """The proxy for a call to ``url``, None if it goes direct (no proxy, or NO_PROXY
        names its host)."""
        parsed = yarl.URL(url)
        proxy = self._proxies.get(parsed.scheme) or self._proxies.get("all")
        if proxy is None or not parsed.host:
            return None
        if _bypassed(parsed.host, self._proxies.get("no", "")):
            return None
        return proxy


def _bypassed(host: str, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` names ``host``: ``*``, a domain (and its subdomains, with or
    without a leading dot, a port ignored), an IP address or a CIDR network."""
    host = host.lower().rstrip(".")
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry.strip("[]"), strict=False):
                    return True
                continue
            except ValueError:
                pass
        name = entry.lstrip(".").rstrip(".")
        if name.count(":") == 1:
            name = name.split(":", 1)[0]  # a port: any port
        if host == name or host.endswith("." + name):
            return True
    return False


# -- TLS ---------------------------------------------------------------------------------


def check_tls(options: TlsOptions) -> None:
    """Raise ``ValueError`` (its message fit for a 400) unless a context can be built."""
    if not options.verify and options.ca_bundle is not None:
        raise ValueError("'tls.ca_bundle' has no use with 'tls.verify' false")
    if (options.client_cert is None) != (options.client_key is None):
        raise ValueError("'tls.client_cert' and 'tls.client_key' go together")
    ssl_context(options)


def ssl_context(options: TlsOptions) -> ssl.SSLContext:
    """The client context ``options`` describe; ``ValueError`` names the bad field."""
    try:
        context = ssl.create_default_context(cadata=options.ca_bundle)
    except (ssl.SSLError, ValueError, TypeError) as exc:  # TypeError: not ASCII
        raise ValueError(f"'tls.ca_bundle' holds no usable PEM certificate ({exc})") from None
    if not options.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if options.client_cert is not None and options.client_key is not None:
        _load_client_cert(context, options.client_cert, options.client_key)
    return context


def _load_client_cert(context: ssl.SSLContext, cert: str, key: str) -> None:
    """``load_cert_chain`` reads files only: the PEMs go to a private temporary folder
    (0700, files 0600) for the time of the call."""
    with tempfile.TemporaryDirectory(prefix="airelay-tls-") as folder:
        try:
            paths = []
            for name, text in (("cert.pem", cert), ("key.pem", key)):
                path = os.path.join(folder, name)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w", encoding="ascii") as handle:
                    handle.write(text)  # PEM is ASCII: anything else fails here
                paths.append(path)
            context.load_cert_chain(paths[0], paths[1], password=_no_password)
        except (ssl.SSLError, ValueError, TypeError) as exc:
            raise ValueError(
                "'tls.client_cert' and 'tls.client_key' must be a PEM certificate and its "
                f"unencrypted PEM private key ({type(exc).__name__})"
            ) from None


def _no_password() -> str:
    raise ValueError("the client key is encrypted; give it unencrypted")


# -- stored form -------------------------------------------------------------------------


def tls_document(options: TlsOptions, encrypt: Callable[[str], str]) -> dict[str, Any]:
    """The ``channels.tls`` column: the options with the client key encrypted."""
    document: dict[str, Any] = msgspec.to_builtins(options)
    if options.client_key is not None:
        document["client_key"] = encrypt(options.client_key)
    return document


def tls_from_document(document: dict[str, Any], decrypt: Callable[[str], str]) -> TlsOptions:
    """The options a ``channels.tls`` column holds (raises ``ValueError`` for a key that
    cannot be decrypted)."""
    options = msgspec.convert(document, TlsOptions)
    if options.client_key is not None:
        options = msgspec.structs.replace(options, client_key=decrypt(options.client_key))
    return options
