"""SSRF through image URLs: an image URL (or a redirect from a server the gateway treats as
public) never makes the gateway connect to a private, loopback, link-local, unique-local,
multicast, unspecified, reserved or metadata address, in any spelling; every failure gives
one and the same message, so an answer says nothing about what is listening where.

A canary listener on 127.0.0.1 and [::1] answers any connection with a valid image: a
fetch that should have been refused would succeed, and the canary counts connections.
The "public" server of the redirect cases is a loopback server that the test's address
check allows, exactly one port, and nothing else of loopback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fakes.canary import PNG, Canary
from fakes.scripted import Raw, ScriptedServer

from airelay.client import Timeouts
from airelay.errors import GatewayError
from airelay.formats import ir
from airelay.relay.images import FETCH_FAILED, fetch_transport, inline_remote_images, is_public

# Spellings of the canary's own address (loopback, unspecified, mapped, numeric forms,
# userinfo tricks): {port} is the canary's port. Each reaches the canary if not refused.
LOOPBACK_FORMS = [
    "http://127.0.0.1:{port}/i.png",
    "http://127.1:{port}/i.png",
    "http://127.0.0.2:{port}/i.png",
    "http://2130706433:{port}/i.png",
    "http://0x7f.1:{port}/i.png",
    "http://0x7f000001:{port}/i.png",
    "http://017700000001:{port}/i.png",
    "http://0177.0.0.1:{port}/i.png",
    "http://0.0.0.0:{port}/i.png",
    "http://0:{port}/i.png",
    "http://localhost:{port}/i.png",
    "http://LOCALHOST.:{port}/i.png",
    "http://[::1]:{port}/i.png",
    "http://[::]:{port}/i.png",
    "http://[::ffff:127.0.0.1]:{port}/i.png",
    "http://[::ffff:7f00:1]:{port}/i.png",
    "http://[0:0:0:0:0:ffff:127.0.0.1]:{port}/i.png",
    "http://[::127.0.0.1]:{port}/i.png",
    "http://[2002:7f00:1::]:{port}/i.png",
    "http://[64:ff9b::7f00:1]:{port}/i.png",
    "http://public@127.0.0.1:{port}/i.png",
    "http://user:password@127.0.0.1:{port}/i.png",
    "http://example.com@127.0.0.1:{port}/i.png",
    "http://127.0.0.1:{port}#@example.com/i.png",
    "https://127.0.0.1:{port}/i.png",
]
# Other non-public addresses (nothing of ours listens there; refused before any connection).
OTHER_FORMS = [
    "http://10.0.0.1/i.png",
    "http://172.16.0.1/i.png",
    "http://192.168.1.1/i.png",
    "http://100.64.0.1/i.png",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://[fe80::1]/i.png",
    "http://[fc00::1]/i.png",
    "http://[fec0::1]/i.png",
    "http://224.0.0.1/i.png",
    "http://[ff02::1]/i.png",
    "http://255.255.255.255/i.png",
    "http://240.0.0.1/i.png",
    "http://198.18.0.1/i.png",
    "http://192.0.2.1/i.png",
    "http://[2001:db8::1]/i.png",
    "http://[::ffff:10.0.0.1]/i.png",
    "http://[::ffff:169.254.169.254]/i.png",
    "http://[2002:a9fe:a9fe::]/i.png",
    "http://[64:ff9b::a9fe:a9fe]/i.png",
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/i.png",
    "http://[::1/i.png",
]
# Schemes a redirect may name (a client's non-http image URL is never fetched at all).
OTHER_SCHEMES = [
    "file:///etc/passwd",
    "ftp://127.0.0.1/i.png",
    "gopher://127.0.0.1:70/_x",
    "data:image/png;base64,iVBORw0KGgo=",
    "//127.0.0.1:{port}/i.png",
]
NOT_PUBLIC = [
    "127.0.0.1",
    "127.255.255.254",
    "0.0.0.0",
    "0.1.2.3",
    "10.1.2.3",
    "172.31.255.255",
    "192.168.0.1",
    "100.64.0.1",
    "169.254.169.254",
    "224.0.0.251",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "198.18.0.1",
    "192.0.0.1",
    "::",
    "::1",
    "::127.0.0.1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "2002:7f00:1::",
    "2002:a9fe:a9fe::1",
    "64:ff9b::7f00:1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b:1::1",
    "fd00:ec2::254",
    "fc00::1",
    "fe80::1",
    "fe80::1%1",
    "fec0::1",
    "ff02::1",
    "ff0e::1",
    "2001:db8::1",
    "2001::1",
    "100::1",
]
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",
    "2002:808:808::",
    "64:ff9b::808:808",
]


@pytest.fixture(scope="module")
def canary() -> Iterator[Canary]:
    with Canary() as running:
        yield running


@pytest.fixture(scope="module")
def redirector() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh(canary: Canary, redirector: ScriptedServer) -> None:
    canary.reset()
    redirector.reset()


def fetch(url: str, allowed_port: int | None = None, max_bytes: int = 1 << 20) -> ir.Image:
    """Inline one image URL as the gateway does; ``allowed_port``: the one loopback port
    the address check lets through (the "public" server), besides public addresses."""

    def allowed(address: str, port: int) -> bool:
        if allowed_port is not None and address == "127.0.0.1" and port == allowed_port:
            return True
        return is_public(address)

    image = ir.Image(url=url)
    request = ir.ChatRequest(model="m", messages=[ir.Message(role="user", parts=[image])])

    async def run() -> None:
        transport = fetch_transport(allowed, Timeouts(connect=2, read=5, total=5))
        try:
            await inline_remote_images(transport, request, max_bytes, seconds=5)
        finally:
            await transport.close()

    asyncio.run(run())
    return image


def refused(url: str, allowed_port: int | None = None) -> str:
    with pytest.raises(GatewayError) as caught:
        fetch(url, allowed_port)
    assert caught.value.status == 400
    return str(caught.value.message)


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_not_public(address: str) -> None:
    assert not is_public(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_public(address: str) -> None:
    assert is_public(address)


def test_the_canary_and_the_allowed_server_do_serve_images(
    canary: Canary, redirector: ScriptedServer
) -> None:
    """The controls: with its port allowed, the canary's image is fetched (so a refusal
    below is the filter's doing), and so is an image behind the allowed redirector."""
    image = fetch(f"http://127.0.0.1:{canary.port}/i.png", allowed_port=canary.port)
    assert image.url is None and image.media_type == "image/png" and image.data
    assert canary.connections == 1
    redirector.script(Raw(200, {"Content-Type": "image/png"}, (PNG,)))
    assert fetch(f"{redirector.origin}/i.png", allowed_port=redirector.port).data


@pytest.mark.parametrize("form", LOOPBACK_FORMS)
def test_direct_loopback_forms_never_connect(canary: Canary, form: str) -> None:
    message = refused(form.format(port=canary.port))
    assert message == FETCH_FAILED
    assert canary.connections == 0


@pytest.mark.parametrize("form", LOOPBACK_FORMS)
def test_redirect_to_loopback_forms_never_connect(
    canary: Canary, redirector: ScriptedServer, form: str
) -> None:
    redirector.script(Raw.redirect(form.format(port=canary.port)))
    message = refused(f"{redirector.origin}/start.png", allowed_port=redirector.port)
    assert message == FETCH_FAILED
    assert len(redirector.requests) == 1  # the redirect was read, and not followed
    assert canary.connections == 0


@pytest.mark.parametrize("form", OTHER_FORMS)
def test_other_private_forms_are_refused(form: str) -> None:
    assert refused(form) == FETCH_FAILED


@pytest.mark.parametrize("form", OTHER_FORMS + OTHER_SCHEMES)
def test_redirect_to_other_private_forms_is_refused(
    canary: Canary, redirector: ScriptedServer, form: str
) -> None:
    redirector.script(Raw.redirect(form.format(port=canary.port)))
    assert refused(f"{redirector.origin}/start.png", allowed_port=redirector.port) == FETCH_FAILED
    assert len(redirector.requests) == 1
    assert canary.connections == 0


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_every_redirect_status_is_checked(
    canary: Canary, redirector: ScriptedServer, status: int
) -> None:
    redirector.script(Raw.redirect(f"http://127.0.0.1:{canary.port}/i.png", status))
    assert refused(f"{redirector.origin}/a.png", allowed_port=redirector.port) == FETCH_FAILED
    assert canary.connections == 0


def test_redirect_chains_are_bounded(redirector: ScriptedServer) -> None:
    redirector.script(*[Raw.redirect(f"{redirector.origin}/hop{i}") for i in range(20)])
    assert refused(f"{redirector.origin}/start", allowed_port=redirector.port) == FETCH_FAILED
    assert 1 < len(redirector.requests) <= 5


def test_a_relative_redirect_on_an_allowed_server_is_followed(
    redirector: ScriptedServer,
) -> None:
    redirector.script(Raw.redirect("/real.png"), Raw(200, {"Content-Type": "image/png"}, (PNG,)))
    image = fetch(f"{redirector.origin}/start.png", allowed_port=redirector.port)
    assert image.data and [r.path for r in redirector.requests] == ["/start.png", "/real.png"]


def test_every_failure_gives_the_same_message(canary: Canary, redirector: ScriptedServer) -> None:
    """Refused port, private address, not an image, too big, HTTP error, bad URL: one
    message, so that the answer is no port scanner."""
    closed = ScriptedServer().start()
    closed_port = closed.port
    closed.stop()
    allowed = redirector.port
    messages = {
        refused(f"http://127.0.0.1:{closed_port}/i.png", allowed_port=closed_port),
        refused(f"http://127.0.0.1:{canary.port}/i.png"),
    }
    redirector.script(Raw(200, {"Content-Type": "text/html"}, (b"<html></html>",)))
    messages.add(refused(f"{redirector.origin}/page", allowed_port=allowed))
    redirector.script(Raw(404, {"Content-Type": "image/png"}, (b"",)))
    messages.add(refused(f"{redirector.origin}/gone.png", allowed_port=allowed))
    redirector.script(Raw(200, {"Content-Type": "image/png"}, (PNG * 20000,)))
    with pytest.raises(GatewayError) as caught:
        fetch(f"{redirector.origin}/huge.png", allowed_port=allowed, max_bytes=1000)
    messages.add(str(caught.value.message))
    messages.add(refused("http://[::1/i.png"))
    assert messages == {FETCH_FAILED}
    assert canary.connections == 0
