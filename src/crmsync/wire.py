"""HTTP/1.1 over asyncio streams: the connection pool under every API client's httpx transport.

httpx's own pool (httpcore on anyio, parsing each event with h11) cost about 0.9 ms of CPU a request for a page of
100 deals on loopback, about 0.45 ms more than this one, and more than decoding the page. `WirePool` does the job
with asyncio's streams: one request at a time per connection, idle connections kept per origin for `keepalive`
seconds, and the whole answer read before it is handed up (these are API pages, not downloads; `max_body` bounds
them). It speaks httpcore's pool interface, so httpx sits on it unchanged through `WireTransport`, and respx
intercepts it in tests (`crmsync.testing.plugin` registers it). Its errors are httpcore's, which httpx turns into
its own and `ApiClient` into crmsync's.

A request that finds its kept connection closed or reset before the first byte of an answer is sent once more, on
a new connection (a new connection failing so is an error). The usual cause is a server dropping an idle
connection as the request went out, unread; should a server have read it and died before answering, the request
arrives twice, which crmsync's writes allow: each sets values, so a second delivery changes nothing.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterable, Iterable
from typing import Any

import httpcore
import httpx

MAX_HEAD = 64 * 1024  # status line and headers of one answer
MAX_BODY = 256 * 1024 * 1024
READ_SIZE = 256 * 1024
DEFAULT_PORTS = {b"http": 80, b"https": 443}
_HEX = b"0123456789abcdefABCDEF"

Origin = tuple[bytes, bytes, int]


class _Stale(Exception):
    """A kept connection was closed before any byte of the answer came."""


class _Connection:
    __slots__ = ("idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0

    def usable(self, now: float, keepalive: float) -> bool:
        return now - self.idle_since < keepalive and not self.writer.is_closing() and not self.reader.at_eof()

    def close(self) -> None:
        self.writer.close()


class WirePool:
    """A pool of HTTP/1.1 connections with httpcore's interface (`handle_async_request`, `aclose`).

    Args:
        ssl_context: TLS settings for https origins.
        max_idle: Idle connections kept per origin; more are closed as they come back.
        keepalive: Seconds an idle connection is kept.
        max_body: Largest answer body accepted, in bytes.
    """

    def __init__(
        self, ssl_context: ssl.SSLContext, *, max_idle: int = 10, keepalive: float = 5.0, max_body: int = MAX_BODY
    ) -> None:
        self.ssl_context = ssl_context
        self.max_idle = max_idle
        self.keepalive = keepalive
        self.max_body = max_body
        self._idle: dict[Origin, list[_Connection]] = {}

    async def __aenter__(self) -> WirePool:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in DEFAULT_PORTS:
            raise httpcore.UnsupportedProtocol(f"unsupported URL scheme {scheme.decode(errors='replace')!r}")
        origin = (scheme, url.host, url.port or DEFAULT_PORTS[scheme])
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        message = _message(request, await _body(request.stream))
        connection = self._take(origin)
        if connection is not None:
            try:
                return await self._exchange(origin, connection, request.method, message, timeouts, reused=True)
            except _Stale:
                pass  # closed before any answer (see the module's docstring): once more, on a new connection
        connection = await self._connect(origin, timeouts.get("connect"))
        return await self._exchange(origin, connection, request.method, message, timeouts, reused=False)

    def _take(self, origin: Origin) -> _Connection | None:
        connections = self._idle.get(origin)
        now = time.monotonic()
        while connections:
            connection = connections.pop()
            if connection.usable(now, self.keepalive):
                return connection
            connection.close()
        return None

    def _give_back(self, origin: Origin, connection: _Connection) -> None:
        connections = self._idle.setdefault(origin, [])
        if len(connections) >= self.max_idle:
            connection.close()
            return
        connection.idle_since = time.monotonic()
        connections.append(connection)

    async def _connect(self, origin: Origin, seconds: float | None) -> _Connection:
        scheme, host, port = origin
        name = host.decode("ascii")
        tls = self.ssl_context if scheme == b"https" else None
        try:
            async with asyncio.timeout(seconds):
                reader, writer = await asyncio.open_connection(
                    name, port, ssl=tls, server_hostname=name if tls else None, limit=MAX_HEAD
                )
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"no connection to {name}:{port} within {seconds} s") from None
        except OSError as exc:  # refused, unreachable, no such host, a failed TLS handshake
            raise httpcore.ConnectError(f"{name}:{port}: {exc}") from None
        return _Connection(reader, writer)

    async def _exchange(
        self,
        origin: Origin,
        connection: _Connection,
        method: bytes,
        message: bytes,
        timeouts: dict[str, float | None],
        *,
        reused: bool,
    ) -> httpcore.Response:
        try:
            try:
                await _send(connection.writer, message, timeouts.get("write"))
            except httpcore.WriteError:
                if reused:
                    raise _Stale from None
                raise
            answer = _Answer(connection.reader, timeouts.get("read"), self.max_body)
            status, reason, version, headers = await answer.head(stale_if_empty=reused)
            content, keep = await answer.body(method, status, version, headers)
        except BaseException:
            connection.close()  # cancelled or broken mid-answer: never handed out again
            raise
        if keep:
            self._give_back(origin, connection)
        else:
            connection.close()
        extensions = {"http_version": version, "reason_phrase": reason}
        return httpcore.Response(status, headers=headers, content=content, extensions=extensions)


class WireTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a `WirePool` instead of httpcore's pool (httpx converts requests and errors)."""

    def __init__(self, ssl_context: ssl.SSLContext, **settings: Any) -> None:
        # httpx's __init__ is not called: it would build the httpcore pool this one replaces
        self._pool = WirePool(ssl_context, **settings)  # type: ignore[assignment]


async def _body(stream: Iterable[bytes] | AsyncIterable[bytes]) -> bytes:
    if isinstance(stream, AsyncIterable):
        return b"".join([chunk async for chunk in stream])
    return b"".join(stream)


def _message(request: httpcore.Request, body: bytes) -> bytes:
    """The request's bytes: its headers as httpx made them, the body with its length (never chunked: it is whole)."""
    parts = [request.method, b" ", request.url.target, b" HTTP/1.1\r\n"]
    sized = False
    for name, value in request.headers:
        lower = name.lower()
        if lower == b"transfer-encoding":
            continue
        if lower == b"content-length":
            sized = True
        if b"\r" in value or b"\n" in value or b"\r" in name or b"\n" in name:
            raise httpcore.LocalProtocolError(f"header {name!r} holds a line break")
        parts += (name, b": ", value, b"\r\n")
    if not sized and (body or request.method in (b"POST", b"PUT", b"PATCH")):
        parts += (b"Content-Length: ", str(len(body)).encode(), b"\r\n")
    parts.append(b"\r\n")
    parts.append(body)
    return b"".join(parts)


async def _send(writer: asyncio.StreamWriter, message: bytes, seconds: float | None) -> None:
    writer.write(message)
    try:
        async with asyncio.timeout(seconds):
            await writer.drain()
    except TimeoutError:
        raise httpcore.WriteTimeout(f"the request was not sent within {seconds} s") from None
    except OSError as exc:
        raise httpcore.WriteError(str(exc) or type(exc).__name__) from None


class _Answer:
    """Reads one answer from a connection; every wait for bytes is bounded by the read timeout."""

    def __init__(self, reader: asyncio.StreamReader, timeout: float | None, max_body: int) -> None:
        self.reader = reader
        self.timeout = timeout
        self.max_body = max_body

    async def head(self, *, stale_if_empty: bool) -> tuple[int, bytes, bytes, list[tuple[bytes, bytes]]]:
        """Status, reason, version and headers of the final answer (interim 1xx answers are passed over)."""
        while True:
            try:
                raw = await self._until(b"\r\n\r\n", stale_if_empty)
            except asyncio.IncompleteReadError as exc:
                if not exc.partial and stale_if_empty:
                    raise _Stale from None
                raise httpcore.RemoteProtocolError(
                    "the server closed the connection without answering"
                    if not exc.partial
                    else f"the server closed the connection after {len(exc.partial)} bytes of the answer's head"
                ) from None
            except asyncio.LimitOverrunError:
                raise httpcore.RemoteProtocolError(f"an answer's head is longer than {MAX_HEAD} bytes") from None
            status, reason, version, headers = _parse_head(raw)
            if not 100 <= status < 200 or status == 101:
                return status, reason, version, headers
            stale_if_empty = False  # an interim answer came: the server read the request

    async def body(
        self, method: bytes, status: int, version: bytes, headers: list[tuple[bytes, bytes]]
    ) -> tuple[bytes, bool]:
        """The body of an answer, and whether its connection can carry another request."""
        length: int | None = None
        encoded = chunked = closing = False
        for name, value in headers:
            lower = name.lower()
            if lower == b"content-length":
                length = _length(value, length)
            elif lower == b"transfer-encoding":
                encoded = True
                chunked = value.lower().rsplit(b",", 1)[-1].strip() == b"chunked"
            elif lower == b"connection" and b"close" in value.lower():
                closing = True
        keep = version == b"HTTP/1.1" and not closing
        if method == b"HEAD" or status in (204, 304):
            return b"", keep
        if encoded:  # it overrides a Content-Length; with both, the connection is not trusted again
            body = await self._chunked() if chunked else await self._to_close()
            return body, keep and chunked and length is None
        if length is not None:
            if length > self.max_body:
                raise httpcore.RemoteProtocolError(f"an answer of {length} bytes is over {self.max_body}")
            return await self._exactly(length), keep
        return await self._to_close(), False

    async def _until(self, separator: bytes, stale_if_reset: bool = False) -> bytes:
        try:
            async with asyncio.timeout(self.timeout):
                return await self.reader.readuntil(separator)
        except TimeoutError:
            raise httpcore.ReadTimeout(f"no answer within {self.timeout} s") from None
        except OSError as exc:  # a reset: for a kept connection before any answer, the server had closed it
            if stale_if_reset:
                raise _Stale from None
            raise httpcore.ReadError(str(exc) or type(exc).__name__) from None

    async def _read(self, size: int) -> bytes:
        try:
            async with asyncio.timeout(self.timeout):
                return await self.reader.read(size)
        except TimeoutError:
            raise httpcore.ReadTimeout(f"the answer stalled for {self.timeout} s") from None
        except OSError as exc:
            raise httpcore.ReadError(str(exc) or type(exc).__name__) from None

    async def _exactly(self, size: int) -> bytes:
        parts: list[bytes] = []
        left = size
        while left:
            part = await self._read(min(left, READ_SIZE))
            if not part:
                raise httpcore.RemoteProtocolError(
                    f"the server closed the connection after {size - left} of {size} bytes of the body"
                )
            parts.append(part)
            left -= len(part)
        return b"".join(parts)

    async def _to_close(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while part := await self._read(READ_SIZE):
            total += len(part)
            if total > self.max_body:
                raise httpcore.RemoteProtocolError(f"an answer's body is over {self.max_body} bytes")
            parts.append(part)
        return b"".join(parts)

    async def _chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = await self._line("a chunk's size")
            digits = line.split(b";", 1)[0].strip(b" \t")
            if not 0 < len(digits) <= 16 or digits.strip(_HEX):  # no sign, no 0x prefix: hex digits alone
                raise httpcore.RemoteProtocolError(f"a chunk's size is not a hex number: {line[:40]!r}")
            size = int(digits, 16)
            if size == 0:
                while await self._line("the trailers"):  # trailers, up to an empty line
                    pass
                return b"".join(parts)
            total += size
            if total > self.max_body:
                raise httpcore.RemoteProtocolError(f"an answer's body is over {self.max_body} bytes")
            parts.append(await self._exactly(size))
            if await self._line("a chunk's end"):
                raise httpcore.RemoteProtocolError("a chunk is longer than its size says")

    async def _line(self, what: str) -> bytes:
        try:
            return (await self._until(b"\r\n"))[:-2]
        except asyncio.IncompleteReadError:
            raise httpcore.RemoteProtocolError(f"the server closed the connection in {what}") from None
        except asyncio.LimitOverrunError:
            raise httpcore.RemoteProtocolError(f"{what} is longer than {MAX_HEAD} bytes") from None


def _parse_head(raw: bytes) -> tuple[int, bytes, bytes, list[tuple[bytes, bytes]]]:
    lines = raw[:-4].split(b"\r\n")
    version, _, rest = lines[0].partition(b" ")
    code, _, reason = rest.partition(b" ")
    if not version.startswith(b"HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise httpcore.RemoteProtocolError(f"not an HTTP/1 status line: {lines[0][:60]!r}")
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip() or line[:1] in (b" ", b"\t"):
            raise httpcore.RemoteProtocolError(f"a malformed header line: {line[:60]!r}")
        headers.append((name, value.strip(b" \t")))
    return int(code), reason, version, headers


def _length(value: bytes, before: int | None) -> int:
    if not value.strip().isdigit() or (before is not None and before != int(value)):
        raise httpcore.RemoteProtocolError(f"a bad Content-Length: {value[:40]!r}")
    return int(value)
