"""HTTP/1.1 over asyncio streams: the connection pool under every API client's httpx transport.

httpx's own pool (httpcore on anyio, parsing each event with h11) cost about 0.9 ms of CPU a request for a page of
100 deals on loopback, about 0.45 ms more than this one, and more than decoding the page. `WirePool` does the job
with asyncio's streams: one request at a time per connection, idle connections kept per origin for `keepalive`
seconds, and the whole answer read before it is handed up (these are API pages, not downloads; `max_body` bounds
them). It speaks httpcore's pool interface, so httpx sits on it unchanged through `WireTransport`, and respx
intercepts it in tests (`crmsync.testing.plugin` registers it). Its errors are httpcore's, which httpx turns into
its own and `ApiClient` into crmsync's.

A kept connection is handed out again only when nothing arrived on it since its last answer ended: bytes beyond
an answer's framing, or a server's answer to no request (a 408 before it closes an idle connection), mean the
stream cannot be trusted, and it is closed. An idempotent request (GET, HEAD, PUT, DELETE, OPTIONS) that finds its
kept connection closed or reset before the first byte of an answer is sent once more, on a new connection (the
usual cause: a server dropping an idle connection as the request went out, unread). Any other request gets the
error, and `ApiClient`'s retry policy decides: the pool never sends a POST or PATCH twice on its own.

Answers must end their lines with CRLF (RFC 9112 lets a client refuse a bare LF); a folded header line is unfolded
into its value. The only transfer coding taken is chunked; anything else is refused, as httpcore refuses it.
httpx's `Limits` are not read: `ApiClient` bounds its concurrent requests itself, and `max_idle` the kept ones.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections.abc import AsyncIterable, Coroutine, Iterable
from typing import Any

import httpcore
import httpx

KEEPALIVE = 4.0  # seconds an idle connection is kept: under the 5 s after which many servers drop one (uvicorn, Node)
MAX_HEAD = 64 * 1024  # status line and headers of one answer
MAX_BODY = 256 * 1024 * 1024
READ_SIZE = 256 * 1024
DEFAULT_PORTS = {b"http": 80, b"https": 443}
_HEX = b"0123456789abcdefABCDEF"
IDEMPOTENT = frozenset({b"GET", b"HEAD", b"PUT", b"DELETE", b"OPTIONS"})  # RFC 9110 §9.2.2: safe to send again
HAPPY_EYEBALLS = 0.25  # seconds before trying a host's next address (IPv4 after a silent IPv6), as anyio does

Origin = tuple[bytes, bytes, int]


class _Stale(Exception):
    """A kept connection was closed before any byte of the answer came."""


def _buffered(reader: asyncio.StreamReader) -> int:
    """Bytes received and not read yet (asyncio keeps them in `_buffer` and has no public count of them)."""
    return len(getattr(reader, "_buffer", b""))


class _Connection:
    __slots__ = ("idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0

    def usable(self, now: float, keepalive: float) -> bool:
        """Young enough, open, and nothing arrived on it while it was idle."""
        reader = self.reader
        return (
            now - self.idle_since < keepalive
            and not self.writer.is_closing()
            and not reader.at_eof()
            and reader.exception() is None
            and not _buffered(reader)
        )

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
        self, ssl_context: ssl.SSLContext, *, max_idle: int = 10, keepalive: float = KEEPALIVE, max_body: int = MAX_BODY
    ) -> None:
        self.ssl_context = ssl_context
        self.max_idle = max_idle
        self.keepalive = keepalive
        self.max_body = max_body
        self._idle: dict[Origin, list[_Connection]] = {}
        self._closed = False  # after `aclose`, a connection coming back from a request is closed, not kept

    async def __aenter__(self) -> WirePool:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._closed = True
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
        method = request.method
        connection = self._take(origin)
        if connection is not None:
            try:
                return await self._exchange(origin, connection, method, message, timeouts, resend=method in IDEMPOTENT)
            except _Stale:
                pass  # closed before any answer (see the module's docstring): once more, on a new connection
        connection = await self._connect(origin, timeouts.get("connect"))
        return await self._exchange(origin, connection, method, message, timeouts, resend=False)

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
        if self._closed or len(connections) >= self.max_idle:
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
                    name,
                    port,
                    ssl=tls,
                    server_hostname=name if tls else None,
                    limit=MAX_HEAD,
                    happy_eyeballs_delay=HAPPY_EYEBALLS,
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
        resend: bool,
    ) -> httpcore.Response:
        """One request and its answer on `connection`; `resend`: a kept connection found closed before any answer
        raises `_Stale`, for the request to go once more on a new one."""
        try:
            try:
                await _send(connection.writer, message, timeouts.get("write"))
            except httpcore.WriteError:
                if resend:
                    raise _Stale from None
                raise
            answer = _Answer(connection.reader, timeouts.get("read"), self.max_body)
            status, reason, version, headers = await answer.head(stale_if_empty=resend)
            content, keep = await answer.body(method, status, version, headers)
        except BaseException:
            connection.close()  # cancelled or broken mid-answer: never handed out again
            raise
        if keep and not _buffered(connection.reader):  # bytes beyond the answer: not trusted
            self._give_back(origin, connection)
        else:
            connection.close()
        extensions = {"http_version": version, "reason_phrase": reason}
        return httpcore.Response(status, headers=headers, content=content, extensions=extensions)


class WireTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a `WirePool` instead of httpcore's pool (httpx converts requests and errors); the
    arguments are `WirePool`'s."""

    def __init__(
        self, ssl_context: ssl.SSLContext, *, max_idle: int = 10, keepalive: float = KEEPALIVE, max_body: int = MAX_BODY
    ) -> None:
        # httpx's __init__ is not called: it would build the httpcore pool this one replaces
        pool = WirePool(ssl_context, max_idle=max_idle, keepalive=keepalive, max_body=max_body)
        self._pool = pool  # type: ignore[assignment]


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
            if value.strip() != str(len(body)).encode():
                raise httpcore.LocalProtocolError(f"a Content-Length of {value[:20]!r} for a body of {len(body)} bytes")
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
            if status == 101:
                raise httpcore.RemoteProtocolError("101 Switching Protocols, though no request asks to upgrade")
            if status >= 200:
                return status, reason, version, headers
            stale_if_empty = False  # an interim answer came: the server read the request

    async def body(
        self, method: bytes, status: int, version: bytes, headers: list[tuple[bytes, bytes]]
    ) -> tuple[bytes, bool]:
        """The body of an answer, and whether its connection can carry another request."""
        length: int | None = None
        codings: list[bytes] = []
        closing = False
        for name, value in headers:
            lower = name.lower()
            if lower == b"content-length":
                length = _length(value, length)
            elif lower == b"transfer-encoding":
                codings += [coding.strip() for coding in value.lower().split(b",") if coding.strip()]
            elif lower == b"connection" and b"close" in value.lower():
                closing = True
        keep = version == b"HTTP/1.1" and not closing
        if method == b"HEAD" or status in (204, 304):
            return b"", keep
        if codings:  # it overrides a Content-Length; with both, the connection is not trusted again
            if codings != [b"chunked"]:
                raise httpcore.RemoteProtocolError(f"a transfer coding other than chunked: {b', '.join(codings)!r}")
            return await self._chunked(), keep and length is None
        if length is not None:
            if length > self.max_body:
                raise httpcore.RemoteProtocolError(f"an answer of {length} bytes is over {self.max_body}")
            return await self._exactly(length), keep
        return await self._to_close(), False

    async def _until(self, separator: bytes, stale_if_reset: bool = False) -> bytes:
        return await self._bounded(self.reader.readuntil(separator), stale_if_reset)

    async def _read(self, size: int) -> bytes:
        return await self._bounded(self.reader.read(size))

    async def _bounded(self, reading: Coroutine[Any, Any, bytes], stale_if_reset: bool = False) -> bytes:
        """`reading`, within the read timeout; a reset is a ReadError, or `_Stale` when `stale_if_reset` and no
        byte of an answer had come (a kept connection the server had closed)."""
        try:
            async with asyncio.timeout(self.timeout):
                return await reading
        except TimeoutError:
            raise httpcore.ReadTimeout(f"the answer stalled for {self.timeout} s") from None
        except OSError as exc:
            if stale_if_reset and not _buffered(self.reader):
                raise _Stale from None
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
    """Status, reason, version and headers of a head ending in CRLF CRLF; a folded line joins its header's value."""
    lines = raw[:-4].split(b"\r\n")
    version, _, rest = lines[0].partition(b" ")
    code, _, reason = rest.partition(b" ")
    if version not in (b"HTTP/1.1", b"HTTP/1.0") or len(code) != 3 or not code.isdigit() or code[:1] == b"0":
        raise httpcore.RemoteProtocolError(f"not an HTTP/1 status line: {lines[0][:60]!r}")
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        if _CONTROL.search(line):
            raise httpcore.RemoteProtocolError(f"a control character in a header line: {line[:60]!r}")
        if line[:1] in (b" ", b"\t") and headers:  # obs-fold: RFC 9112 §5.2 has it replaced by a space
            name, value = headers[-1]
            headers[-1] = (name, (value + b" " + line.strip(b" \t")).strip(b" "))
            continue
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):
            raise httpcore.RemoteProtocolError(f"a malformed header line: {line[:60]!r}")
        headers.append((name, value.strip(b" \t")))
    return int(code), reason, version, headers


_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # a field name (RFC 9110 §5.1)
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # in a field line only HTAB may be one; a lone CR or LF is too


def _length(value: bytes, before: int | None) -> int:
    digits = value.strip()
    if not digits.isdigit() or len(digits) > 18 or (before is not None and before != int(digits)):
        raise httpcore.RemoteProtocolError(f"a bad Content-Length: {value[:40]!r}")
    return int(digits)
