"""The front's connections over real loopback sockets: which requests it serves, which it
hands to aiohttp (with every byte), and how it frames, refuses, times out and closes."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import uvloop
from aiohttp import web
from support.front_wire import COLD, HOT, Client, front, post

from airelay.front.connection import FrontConnection, Serving
from airelay.front.request import FrontStream


def served(answer: Any) -> str:
    return str(orjson.loads(answer.body)["served"])


def test_a_hot_route_is_served_by_the_front_on_every_request_of_a_connection() -> None:
    async def scenario() -> None:
        async with front() as (port, _runner):
            client = await Client.open(port)
            for n in range(3):
                await client.send(post(HOT + "?beta=true", b'{"n": %d}' % n))
                answer = await client.answer()
                assert answer.status == 200
                assert orjson.loads(answer.body) == {
                    "served": "front",
                    "body": f'{{"n": {n}}}',
                    "query": {"beta": "true"},
                }
                assert answer.headers["x-path"] == HOT
                assert answer.headers["content-type"] == "application/json; charset=utf-8"
                assert answer.headers["server"].startswith("Python/")
                assert answer.headers["date"].endswith(" GMT")
                assert "connection" not in answer.headers  # kept alive
            client.close()

    uvloop.run(scenario())


def test_a_head_split_across_reads_is_still_the_fronts() -> None:
    async def scenario() -> None:
        async with front() as (port, _runner):
            client = await Client.open(port)
            await client.send_cut(post(HOT, b"split"), 7, 30, -2)
            answer = await client.answer()
            assert (served(answer), orjson.loads(answer.body)["body"]) == ("front", "split")

    uvloop.run(scenario())


def test_a_chunked_body_reaches_the_handler_whole() -> None:
    async def scenario() -> None:
        async with front() as (port, _runner):
            client = await Client.open(port)
            head = f"POST {HOT} HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n"
            await client.send(head.encode() + b"3\r\nabc\r\n")
            await asyncio.sleep(0.02)
            await client.send(b"2\r\nde\r\n0\r\n\r\n")
            answer = await client.answer()
            assert (served(answer), orjson.loads(answer.body)["body"]) == ("front", "abcde")
            # Trailers, however many, are not read.
            trailers = "".join(f"X-T{n}: v\r\n" for n in range(200)).encode()
            await client.send(head.encode() + b"1\r\nf\r\n0\r\n" + trailers + b"\r\n")
            answer = await client.answer()
            assert (served(answer), orjson.loads(answer.body)["body"]) == ("front", "f")

    uvloop.run(scenario())


def test_another_route_hands_the_connection_to_aiohttp_with_every_byte() -> None:
    async def scenario() -> None:
        async with front() as (port, _runner):
            client = await Client.open(port)
            await client.send(post(HOT, b"first"))
            assert served(await client.answer()) == "front"
            # The head in two reads, the body in a third: aiohttp gets all of them.
            await client.send_cut(post(COLD, b"cold body"), 10, -4)
            answer = await client.answer()
            assert orjson.loads(answer.body)["served"] == "aiohttp"
            assert orjson.loads(answer.body)["body"] == "cold body"
            # From then on aiohttp serves the connection, the hot route too.
            await client.send(post(HOT, b"after"))
            assert served(await client.answer()) == "aiohttp"

    uvloop.run(scenario())


def test_what_the_front_does_not_serve_goes_to_aiohttp() -> None:
    cases = {
        "HTTP/1.0": post(HOT, b"x").replace(b"HTTP/1.1", b"HTTP/1.0"),
        "Expect": post(HOT, b"x", "Expect: 100-continue"),
        "Content-Encoding": post(HOT, b"x", "Content-Encoding: identity"),
        "another method": f"PUT {HOT} HTTP/1.1\r\nHost: gw\r\nContent-Length: 0\r\n\r\n".encode(),
        "an encoded path": post(HOT.replace("/chat", "/%63hat"), b"x"),
    }

    async def scenario() -> None:
        async with front() as (port, _runner):
            for name, message in cases.items():
                client = await Client.open(port)
                await client.send(message)
                answer = await client.answer()
                if name in ("another method",):
                    assert answer.status == 405, name
                else:
                    assert (answer.status, served(answer)) == (200, "aiohttp"), name
                client.close()

    uvloop.run(scenario())


def test_a_head_the_parser_refuses_gets_aiohttps_json_refusal() -> None:
    async def scenario() -> None:
        async with front() as (port, _runner):
            for message, status in (
                (b"POST /v1/chat/completions HTTP/1.1\r\nBad Header\r\n\r\n", 400),
                (post(HOT, b"x", "X-Big: " + "a" * 9000), 431),
                (b"POST /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414),
            ):
                client = await Client.open(port)
                await client.send(message)
                answer = await client.answer()
                assert answer.status == status
                assert "error" in orjson.loads(answer.body)
                assert "x-request-id" in answer.headers
                client.close()

    uvloop.run(scenario())


def test_a_body_over_the_limit_is_refused_unread_and_the_connection_closed() -> None:
    seen: list[str] = []

    async def hot(request: Any) -> web.StreamResponse:
        try:
            await request.read()
        except web.HTTPRequestEntityTooLarge as too_large:
            seen.append("413")
            return web.json_response({}, status=too_large.status)
        return web.json_response({})

    async def scenario() -> None:
        async with front(hot, max_body=100) as (port, _runner):
            for message in (
                post(HOT, b"x" * 101),  # said by its Content-Length
                f"POST {HOT} HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
                + b"64\r\n"
                + b"x" * 100
                + b"\r\n1\r\nx\r\n",  # found reading it
            ):
                client = await Client.open(port)
                await client.send(message)
                answer = await client.answer()
                assert answer.status == 413
                assert answer.headers["connection"] == "close"
                assert await client.closed()

    uvloop.run(scenario())
    assert seen == ["413", "413"]


def test_a_malformed_body_is_the_handlers_read_error() -> None:
    async def hot(request: Any) -> web.StreamResponse:
        try:
            await request.read()
        except Exception as exc:
            return web.json_response({"error": type(exc).__name__}, status=400)
        return web.json_response({})

    async def scenario() -> None:
        async with front(hot) as (port, _runner):
            client = await Client.open(port)
            head = f"POST {HOT} HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n"
            await client.send(head.encode() + b"zz\r\nabc\r\n")
            answer = await client.answer()
            assert (answer.status, orjson.loads(answer.body)) == (400, {"error": "BadHttpMessage"})
            assert await client.closed()

    uvloop.run(scenario())


def test_pipelined_requests_are_answered_in_turn() -> None:
    order: list[str] = []

    async def hot(request: Any) -> web.StreamResponse:
        body = (await request.read()).decode()
        await asyncio.sleep(0.05 if body == "one" else 0)  # the first is the slowest
        order.append(body)
        return web.json_response({"body": body})

    async def scenario() -> None:
        async with front(hot) as (port, _runner):
            client = await Client.open(port)
            await client.send(post(HOT, b"one") + post(HOT, b"two") + post(HOT, b"three"))
            for body in ("one", "two", "three"):
                answer = await client.answer()
                assert (orjson.loads(answer.body)["body"], answer.headers.get("connection")) == (
                    body,
                    None,
                )
            assert order == ["one", "two", "three"]
            await client.send(post(HOT, b"four"))  # still open
            assert orjson.loads((await client.answer()).body)["body"] == "four"

    uvloop.run(scenario())


def test_a_pipelined_request_the_front_does_not_serve_ends_the_connection() -> None:
    """Its bytes are not a read's own, so aiohttp cannot be given them: those before it are
    answered, the connection closed, it and what follows unread (the client retries)."""

    async def scenario() -> None:
        async with front() as (port, _runner):
            for odd in (
                post(COLD, b"cold"),
                post(HOT, b"x", "Expect: 100-continue"),
                b"GARBAGE\r\n\r\n",
                post(HOT, b"x", "X-Big: " + "a" * 9000),
            ):
                client = await Client.open(port)
                await client.send(post(HOT, b"one") + post(HOT, b"two") + odd + post(HOT, b"z"))
                for body, connection in (("one", None), ("two", "close")):
                    answer = await client.answer()
                    assert orjson.loads(answer.body)["body"] == body
                    assert answer.headers.get("connection") == connection, odd
                assert await client.closed()

    uvloop.run(scenario())


def test_a_request_sent_while_the_handler_still_runs_is_served_after_it() -> None:
    """A stored response is written after its stream has ended: the client, which has its
    answer, sends the next request meanwhile, in reads of its own."""
    release = asyncio.Event()
    order: list[str] = []

    async def hot(request: Any) -> web.StreamResponse:
        body = (await request.read()).decode()
        stream = FrontStream(request.protocol, {})
        await stream.prepare(request)
        await stream.write_eof(body.encode())
        if body == "one":
            await release.wait()  # still storing it
        order.append(body)
        return stream  # type: ignore[return-value]

    async def scenario() -> None:
        async with front(hot) as (port, _runner):
            client = await Client.open(port)
            await client.send(post(HOT, b"one"))
            assert (await client.answer()).body == b"one"
            second = post(HOT, b"two")
            await client.send(second[:12])
            await asyncio.sleep(0.05)
            await client.send(second[12:])
            await asyncio.sleep(0.05)
            assert order == []
            release.set()
            assert (await client.answer()).body == b"two"
            assert order == ["one", "two"]
            await client.send(second)  # and on
            assert (await client.answer()).body == b"two"

    uvloop.run(scenario())


def test_connection_close_is_honoured() -> None:
    async def scenario() -> None:
        async with front() as (port, _runner):
            client = await Client.open(port)
            await client.send(post(HOT, b"x", "Connection: close"))
            answer = await client.answer()
            assert (served(answer), answer.headers["connection"]) == ("front", "close")
            assert await client.closed()

    uvloop.run(scenario())


def test_a_client_that_leaves_cancels_its_handler() -> None:
    events: list[str] = []

    async def hot(request: Any) -> web.StreamResponse:
        events.append("started")
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            events.append("cancelled")
            raise
        return web.json_response({})

    async def scenario() -> None:
        async with front(hot) as (port, _runner):
            client = await Client.open(port)
            await client.send(post(HOT, b"x"))
            await asyncio.sleep(0.05)
            client.close()
            for _ in range(100):
                if "cancelled" in events:
                    break
                await asyncio.sleep(0.01)
            assert events == ["started", "cancelled"]  # while the server still runs

    uvloop.run(scenario())


def test_a_connection_without_a_whole_head_in_time_is_closed() -> None:
    async def scenario() -> None:
        async with front(header_timeout=0.2) as (port, _runner):
            idle = await Client.open(port)
            trickle = await Client.open(port)
            await trickle.send(post(HOT, b"x")[:20])
            assert await idle.closed()
            assert await trickle.closed()
            # And after an answer, idle again.
            client = await Client.open(port)
            await client.send(post(HOT, b"x"))
            assert served(await client.answer()) == "front"
            assert await client.closed()

    uvloop.run(scenario())


def test_a_stream_sends_its_head_first_and_frames_every_block() -> None:
    go = asyncio.Event()

    async def hot(request: Any) -> web.StreamResponse:
        stream = FrontStream(request.protocol, {"Content-Type": "text/event-stream"})
        await stream.prepare(request)
        await go.wait()  # the upstream silent: the head is out all the same
        await stream.write(b"data: 1\n\n")
        await stream.write(b"")
        await stream.write_eof(b"data: 2\n\n")
        await stream.write_eof()
        return stream  # type: ignore[return-value]

    async def scenario() -> None:
        async with front(hot) as (port, _runner):
            client = await Client.open(port)
            await client.send(post(HOT, b"x"))
            status, headers, _raw = await client.head()
            assert (status, headers["transfer-encoding"]) == (200, "chunked")
            assert headers["content-type"] == "text/event-stream"
            go.set()
            chunks = []
            while True:
                size = int((await client.reader.readuntil(b"\r\n"))[:-2], 16)
                chunks.append((await client.reader.readexactly(size + 2))[:-2])
                if not size:
                    break
            assert chunks == [b"data: 1\n\n", b"data: 2\n\n", b""]
            await client.send(post(HOT, b"x"))  # still usable
            status, _headers, _raw = await client.head()
            assert status == 200

    uvloop.run(scenario())


def test_a_stream_waits_for_a_client_that_does_not_read() -> None:
    written: list[int] = []
    block = b"x" * 65536

    async def hot(request: Any) -> web.StreamResponse:
        stream = FrontStream(request.protocol, {})
        await stream.prepare(request)
        for _ in range(1024):  # 64 MiB
            await stream.write(block)
            written.append(len(block))
        await stream.write_eof()
        return stream  # type: ignore[return-value]

    async def scenario() -> None:
        async with front(hot) as (port, _runner):
            client = await Client.open(port)
            await client.send(post(HOT, b"x"))
            await asyncio.sleep(0.3)
            assert sum(written) < 32 * 1024 * 1024  # held back by the full socket
            answer = await client.answer()
            assert len(answer.body) == 1024 * len(block)

    uvloop.run(scenario())


def test_a_line_break_in_an_answer_header_never_reaches_the_client() -> None:
    async def hot(request: Any) -> web.StreamResponse:
        response = web.json_response({})
        response.headers["x-bad"] = "a\r\nSet-Cookie: stolen=1"
        return response

    async def scenario() -> None:
        async with front(hot) as (port, _runner):
            client = await Client.open(port)
            await client.send(post(HOT, b"x"))
            assert await client.closed()

    uvloop.run(scenario())


def test_stopping_waits_for_an_answer_in_progress_and_closes_idle_connections() -> None:
    release = asyncio.Event()

    async def hot(request: Any) -> web.StreamResponse:
        await release.wait()
        return web.json_response({"done": True})

    async def scenario() -> None:
        async with front(hot, header_timeout=60) as (port, runner):
            idle = await Client.open(port)
            await asyncio.sleep(0.02)
            busy = await Client.open(port)
            await busy.send(post(HOT, b"x"))
            await asyncio.sleep(0.05)
            stopping = asyncio.ensure_future(runner.cleanup())
            assert await idle.closed()
            assert not stopping.done()
            release.set()
            answer = await busy.answer()
            assert orjson.loads(answer.body) == {"done": True}
            assert answer.headers["connection"] == "close"
            await stopping
            try:
                await asyncio.wait_for(Client.open(port), 1)
                refused = False
            except OSError:
                refused = True
            assert refused

    uvloop.run(scenario())


def test_an_error_after_a_streams_head_closes_the_connection_without_a_second_answer() -> None:
    async def hot(request: Any) -> web.StreamResponse:
        stream = FrontStream(request.protocol, {})
        await stream.prepare(request)
        await stream.write(b"data: 1\n\n")
        return web.json_response({"error": "late"}, status=500)

    async def scenario() -> None:
        async with front(hot) as (port, _runner):
            client = await Client.open(port)
            await client.send(post(HOT, b"x"))
            status, _headers, _raw = await client.head()
            assert status == 200
            rest = await asyncio.wait_for(client.reader.read(), 5)  # to the end: closed
            assert rest == b"9\r\ndata: 1\n\n\r\n"

    uvloop.run(scenario())


class _Transport(asyncio.Transport):
    """A transport that records what is done to it."""

    def __init__(self) -> None:
        super().__init__()
        self.protocol: asyncio.BaseProtocol | None = None
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else default

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


class _Handed(asyncio.Protocol):
    def __init__(self) -> None:
        self.received = b""

    def data_received(self, data: bytes) -> None:
        self.received += data


def test_a_hand_over_holds_while_an_exception_is_being_handled_up_the_stack() -> None:
    """Compiled coroutines can leave an exception marked as being handled when the loop
    next reads: the parser's error then carries that one as its context, not the reason
    the front stopped it. The hand-over must not depend on it."""

    async def scenario() -> None:
        handed = _Handed()
        serving = Serving(
            web.Application(), {}, lambda: handed, 1024, 5.0, asyncio.get_running_loop()
        )
        connection = FrontConnection(serving)
        transport = _Transport()
        connection.connection_made(transport)
        message = post(COLD, b"cold")
        try:
            raise LookupError("handled elsewhere")
        except LookupError:
            connection.data_received(message)
        assert (transport.protocol, handed.received) == (handed, message)
        assert not transport.closed

    uvloop.run(scenario())
