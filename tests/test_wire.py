"""The HTTP/1.1 pool under API clients (crmsync.wire), against a scripted server on loopback: framing, keep-alive,
stale connections, timeouts and malformed answers."""

from __future__ import annotations

import asyncio
import gzip
import socket
import struct
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx
import pytest
import respx

from crmsync.errors import TransportError
from crmsync.http import ApiClient, no_ca_context
from crmsync.wire import WireTransport

Script = Callable[[int, bytes], bytes | None]  # (request number, request bytes) -> answer bytes; None: hang up


@dataclass
class Server:
    """Answers each request with the script's bytes; counts connections and keeps what it received."""

    script: Script
    close_after: bool = False  # close every connection after one answer, without saying so
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                answer = self.script(len(self.requests), request)
                if answer is None:
                    return
                writer.write(answer)
                await writer.drain()
                if self.close_after:
                    return
        finally:
            writer.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Server]]:
    servers: list[asyncio.Server] = []

    async def begin(script: Script, **options: bool) -> Server:
        server = Server(script, **options)
        listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        server.port = listener.sockets[0].getsockname()[1]
        servers.append(listener)
        return server

    yield begin  # type: ignore[misc]
    for listener in servers:
        listener.close()
        await listener.wait_closed()


def ok(body: bytes = b'{"ok": true}', *extra: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (
        len(body),
        b"".join(line + b"\r\n" for line in extra),
        body,
    )


def client(server: Server, timeout: float = 5.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.url, transport=WireTransport(no_ca_context()), timeout=timeout)


async def test_requests_share_one_kept_connection_and_are_framed_as_sent(serve: Callable[..., Server]) -> None:
    server = await serve(lambda n, request: ok(b'{"n": %d}' % n))
    async with client(server) as http:
        first = await http.get("/crm/v3/objects/deals", params={"limit": 100, "after": "a b"})
        second = await http.post("/batch", json={"inputs": [1, 2]})
    assert (first.json(), second.json()) == ({"n": 1}, {"n": 2})
    assert server.connections == 1
    get, post = server.requests
    assert get.startswith(b"GET /crm/v3/objects/deals?limit=100&after=a+b HTTP/1.1\r\n")
    assert b"\r\nHost: 127.0.0.1:%d\r\n" % server.port in get
    assert post.startswith(b"POST /batch HTTP/1.1\r\n")
    assert b"\r\nContent-Length: 16\r\n" in post and post.endswith(b'\r\n\r\n{"inputs":[1,2]}')
    assert first.http_version == "HTTP/1.1" and first.reason_phrase == "OK"


async def test_a_chunked_answer_is_joined_and_its_trailers_skipped(serve: Callable[..., Server]) -> None:
    chunked = (
        b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\n{"a"\r\n5\r\n: 12}\r\n0\r\nX-Sum: 1\r\n\r\n'
    )
    server = await serve(lambda n, request: chunked)
    async with client(server) as http:
        assert (await http.get("/")).json() == {"a": 12}
        assert (await http.get("/")).json() == {"a": 12}
    assert server.connections == 1, "a chunked answer read to its end leaves the connection usable"


async def test_an_answer_ended_by_the_close_of_its_connection(serve: Callable[..., Server]) -> None:
    server = await serve(lambda n, request: b"HTTP/1.1 200 OK\r\n\r\n[1, 2, 3]", close_after=True)
    async with client(server) as http:
        assert (await http.get("/")).json() == [1, 2, 3]
        assert (await http.get("/")).json() == [1, 2, 3]
    assert server.connections == 2


async def test_connection_close_and_http_1_0_are_not_kept(serve: Callable[..., Server]) -> None:
    answers = [ok(b"1", b"Connection: close"), b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n2", ok(b"3")]
    server = await serve(lambda n, request: answers[n - 1])
    async with client(server) as http:
        assert [(await http.get("/")).text for _ in range(3)] == ["1", "2", "3"]
    assert server.connections == 3


async def test_a_kept_connection_closed_without_an_answer_carries_an_idempotent_request_once_more(
    serve: Callable[..., Server],
) -> None:
    """A server may drop an idle connection just as a request goes out on it: a PUT goes once more, on a new
    connection; a POST is not sent twice by the pool (the error goes up, to the API client's retry policy); and on
    a new connection the same silence is an error."""
    answers = [ok(b"1"), None, ok(b"3"), None, None]
    server = await serve(lambda n, request: answers[n - 1])
    async with client(server) as http:
        assert (await http.get("/")).text == "1"
        assert (await http.put("/write", json={"x": 1})).text == "3"
        with pytest.raises(httpx.RemoteProtocolError, match="closed the connection without answering"):
            await http.post("/create", json={"x": 1})  # on the kept connection, which the server closed
        with pytest.raises(httpx.RemoteProtocolError, match="closed the connection without answering"):
            await http.get("/again")  # on a new connection: not a third time
    assert server.connections == 3
    assert [request.split(b" ", 2)[:2] for request in server.requests] == [
        [b"GET", b"/"],
        [b"PUT", b"/write"],
        [b"PUT", b"/write"],
        [b"POST", b"/create"],
        [b"GET", b"/again"],
    ]


async def test_interim_answers_are_passed_over(serve: Callable[..., Server]) -> None:
    server = await serve(lambda n, request: b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"{}"))
    async with client(server) as http:
        response = await http.post("/", json={})
    assert response.status_code == 200 and response.json() == {}


async def test_no_body_after_head_or_204_and_the_connection_is_kept(serve: Callable[..., Server]) -> None:
    answers = [b"HTTP/1.1 204 No Content\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n", ok(b"x")]
    server = await serve(lambda n, request: answers[n - 1])
    async with client(server) as http:
        assert (await http.delete("/a")).status_code == 204
        head = await http.head("/a")
        assert head.status_code == 200 and head.content == b""
        assert (await http.get("/a")).text == "x"
    assert server.connections == 1


async def test_a_gzip_answer_is_decoded_by_httpx(serve: Callable[..., Server]) -> None:
    packed = gzip.compress(b'{"deals": []}')
    server = await serve(lambda n, request: ok(packed, b"Content-Encoding: gzip"))
    async with client(server) as http:
        assert (await http.get("/")).json() == {"deals": []}
    assert b"accept-encoding: gzip" in server.requests[0].lower()


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"SMTP ready\r\n\r\n", "not an HTTP/1 status line"),
        (b"HTTP/1.1 2000 OK\r\n\r\n", "not an HTTP/1 status line"),
        (b"HTTP/1.1 200 OK\r\n folded: header\r\n\r\n", "malformed header line"),
        (b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "malformed header line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nshort", "after 5 of 12 bytes"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "not a hex number"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nabc\r\n", "not a hex number"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nabcde\r\n", "not a hex number"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", "longer than its size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "after 2 of 5 bytes"),
        (b"HTTP/1.1 200 OK\r\nContent-Len", "after 28 bytes of the answer's head"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n", "over 1000"),
        (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", "longer than 65536 bytes"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n", "other than chunked"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nab", "other than chunked"),
        (b"HTTP/1.1 200 OK\r\nX-A: a\nContent-Length: 2\r\n\r\nab", "control character"),
        (b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\nab", "control character"),
        (b"HTTP/1.1 200 OK\r\nContent Length: 2\r\n\r\nab", "malformed header line"),
        (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", "no request asks to upgrade"),
        (b"HTTP/1.1 099 Odd\r\n\r\n", "not an HTTP/1 status line"),
        (b"HTTP/1.9 200 OK\r\n\r\n", "not an HTTP/1 status line"),
    ],
)
async def test_a_malformed_answer_is_a_protocol_error_naming_the_fault(
    serve: Callable[..., Server], answer: bytes, message: str
) -> None:
    server = await serve(lambda n, request: answer, close_after=True)
    transport = WireTransport(no_ca_context(), max_body=1000)
    async with httpx.AsyncClient(base_url=server.url, transport=transport) as http:
        with pytest.raises(httpx.RemoteProtocolError, match=message):
            await http.get("/")
        assert not transport._pool._idle.get((b"http", b"127.0.0.1", server.port))  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "extra",
    [
        ok(b"INJECTED"),  # a second answer to one request
        b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",  # an idle timeout's
        b"junk",  # bytes beyond the answer's Content-Length
    ],
)
async def test_bytes_beyond_an_answer_are_never_read_as_the_next_answer(
    serve: Callable[..., Server], extra: bytes
) -> None:
    server = await serve(lambda n, request: ok(b"1") + extra if n == 1 else ok(b"%d" % n))
    async with client(server) as http:
        assert (await http.get("/a")).text == "1"
        await asyncio.sleep(0.05)  # whatever else the server sent has arrived
        second = await http.get("/b")
        assert (second.status_code, second.text) == (200, "2")
        assert (await http.get("/c")).text == "3"
    assert server.connections == 2, "the connection that carried more than its answer was closed"


async def test_a_folded_header_is_unfolded_into_its_value(serve: Callable[..., Server]) -> None:
    server = await serve(lambda n, request: b"HTTP/1.1 200 OK\r\nX-Long: a\r\n \t b\r\nContent-Length: 2\r\n\r\nok")
    async with client(server) as http:
        response = await http.get("/")
    assert (response.headers["x-long"], response.text) == ("a b", "ok")


async def test_a_reset_after_part_of_an_answer_is_an_error_never_a_second_send() -> None:
    """Part of an answer came before the reset: the server had the request, so even a PUT is not sent again."""
    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            received.append(head.split(b"\r\n", 1)[0])
            if len(received) == 1:
                writer.write(ok(b"1"))
                continue
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Le")
            await writer.drain()
            await asyncio.sleep(0.05)
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close by RST
            writer.transport.abort()
            return

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    async with httpx.AsyncClient(transport=WireTransport(no_ca_context()), timeout=5.0) as http:
        assert (await http.get(f"http://127.0.0.1:{port}/")).text == "1"
        with pytest.raises(httpx.ReadError):
            await http.put(f"http://127.0.0.1:{port}/write", content=b"{}")
    listener.close()
    await listener.wait_closed()
    assert received == [b"GET / HTTP/1.1", b"PUT /write HTTP/1.1"]


async def test_a_request_that_outlives_the_closed_pool_closes_its_connection(serve: Callable[..., Server]) -> None:
    server = await serve(lambda n, request: ok(b"late"))
    transport = WireTransport(no_ca_context())
    async with httpx.AsyncClient(base_url=server.url, transport=transport) as http:
        late = asyncio.create_task(http.get("/"))
        await asyncio.sleep(0)  # the request is on its way
        await transport.aclose()
        assert (await late).text == "late"
        assert transport._pool._idle.get((b"http", b"127.0.0.1", server.port), []) == []  # type: ignore[attr-defined]


async def test_a_content_length_that_is_not_the_bodys_is_refused_before_sending(
    serve: Callable[..., Server],
) -> None:
    server = await serve(lambda n, request: ok())
    async with client(server) as http:
        with pytest.raises(httpx.LocalProtocolError, match="for a body of 2 bytes"):
            await http.post("/", content=b"{}", headers={"Content-Length": "5"})
    assert server.requests == []


async def test_a_body_over_the_limit_without_a_length_is_refused(serve: Callable[..., Server]) -> None:
    server = await serve(lambda n, request: b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 5000, close_after=True)
    async with httpx.AsyncClient(base_url=server.url, transport=WireTransport(no_ca_context(), max_body=1000)) as http:
        with pytest.raises(httpx.RemoteProtocolError, match="over 1000 bytes"):
            await http.get("/")


async def test_a_silent_server_is_a_read_timeout_and_its_connection_is_dropped(serve: Callable[..., Server]) -> None:
    answers = [ok(b"1"), b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12", ok(b"3")]
    server = await serve(lambda n, request: answers[n - 1])
    async with client(server, timeout=0.2) as http:
        assert (await http.get("/")).text == "1"
        with pytest.raises(httpx.ReadTimeout, match="stalled"):
            await http.get("/")
        assert (await http.get("/")).text == "3"
    assert server.connections == 2, "the connection of the stalled answer was not used again"


async def test_a_refused_connection_is_a_connect_error() -> None:
    listener = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    listener.close()
    await listener.wait_closed()
    async with httpx.AsyncClient(transport=WireTransport(no_ca_context())) as http:
        with pytest.raises(httpx.ConnectError, match=f"127.0.0.1:{port}"):
            await http.get(f"http://127.0.0.1:{port}/")


async def test_an_api_client_cancelled_mid_answer_never_reuses_that_connection(serve: Callable[..., Server]) -> None:
    answers = [b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12", ok(b'{"n": 2}')]
    server = await serve(lambda n, request: answers[n - 1])
    api = ApiClient("wire", server.url, timeout=5.0, deadline=0.2, max_retries=0)
    with pytest.raises(TransportError, match="no whole answer"):
        await api.request("GET", "/slow")
    assert (await api.request_json("GET", "/next")) == {"n": 2}
    await api.aclose()
    assert server.connections == 2


async def test_an_idle_connection_past_its_keepalive_is_closed_not_used(serve: Callable[..., Server]) -> None:
    server = await serve(lambda n, request: ok(b"%d" % n))
    transport = WireTransport(no_ca_context(), keepalive=0.05)
    async with httpx.AsyncClient(base_url=server.url, transport=transport) as http:
        await http.get("/")
        await asyncio.sleep(0.1)
        assert (await http.get("/")).text == "2"
    assert server.connections == 2


async def test_at_most_max_idle_connections_are_kept(serve: Callable[..., Server]) -> None:
    server = await serve(lambda n, request: ok(b"%d" % n))
    transport = WireTransport(no_ca_context(), max_idle=2)
    async with httpx.AsyncClient(base_url=server.url, transport=transport) as http:
        await asyncio.gather(*(http.get("/") for _ in range(5)))
        assert len(transport._pool._idle[(b"http", b"127.0.0.1", server.port)]) == 2  # type: ignore[attr-defined]


@respx.mock
async def test_respx_intercepts_an_api_client_on_the_wire() -> None:
    route = respx.get("https://crm.test/api/deals").mock(return_value=httpx.Response(200, json={"results": []}))
    api = ApiClient("mocked", "https://crm.test/api")
    assert isinstance(api._client._transport, WireTransport)
    assert await api.request_json("GET", "/deals") == {"results": []}
    assert route.called
    await api.aclose()


async def test_behind_a_proxy_the_api_client_keeps_httpx_own_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    api = ApiClient("proxied", "https://crm.test/api")
    assert not isinstance(api._client._transport, WireTransport)
    await api.aclose()


async def test_no_proxy_alone_keeps_the_wire(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "localhost")
    api = ApiClient("direct", "https://crm.test/api")
    assert isinstance(api._client._transport, WireTransport)
    await api.aclose()
