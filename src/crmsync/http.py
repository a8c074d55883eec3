"""The shared HTTP toolkit every connector uses: one client, retries, rate limiting, error translation.

`ApiClient.request` is the one place where httpx errors become crmsync errors: connection problems turn into
`TransportError`, 401/403 into `AuthError`, 429/5xx into `RetriableApiError` (retried with backoff that honours
Retry-After and the CRMs' rate-limit headers), and any other error status into `ApiError` with the CRM's own
message. A client-side limiter keeps under the connector's declared rate so a limit is never hit on purpose.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import random
import ssl
import time
import urllib.request
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from crmsync.errors import ApiError, AuthError, PaginationError, RetriableApiError, TransportError
from crmsync.redact import clip
from crmsync.wire import WireTransport

log = logging.getLogger("crmsync.http")

RETRIABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


def tls_context() -> ssl.SSLContext:
    """The TLS settings httpx would make for a client (its CA bundle, or the one `SSL_CERT_FILE`/`SSL_CERT_DIR`
    names), made once per process and shared by every client: loading the CA bundle costs about 50 ms of CPU,
    which each run of each connection paid again. A bundle replaced on disk is read when the process restarts."""
    return _tls_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.cache
def _tls_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    # httpx's own default, which reads those two variables itself: they only key the cache
    return httpx.create_ssl_context()


@functools.cache
def no_ca_context() -> ssl.SSLContext:
    """TLS settings that trust no certificate at all, for a client whose base URL is plain HTTP (a sandbox on
    loopback): it never needs TLS, so the CA bundle is not loaded for it, and should a request of it ever go to an
    https URL, the handshake fails instead of trusting the server unchecked."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies certificates and host names, against no CA


def _proxied() -> bool:
    """Whether the environment names a proxy (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY; NO_PROXY alone names none)."""
    return any(scheme != "no" for scheme in urllib.request.getproxies())


class NoCookies(httpx.Cookies):
    """A client's cookie store that keeps nothing: the CRM APIs authenticate every request by a header or a
    parameter, so a cookie their edge sets (a bot-management or load-balancer cookie) is neither kept nor sent
    back, and reading the Set-Cookie headers of each answer (a tenth of httpx's own cost a request) is skipped."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class RateLimiter:
    """A sliding-window limiter: at most `max_requests` starts per `window` seconds, shared by all tasks.

    `pause(seconds)` holds every caller back, used when the CRM says it is overloaded.
    """

    def __init__(self, max_requests: int | None, window: float) -> None:
        self.max_requests = max_requests
        self.window = window
        self._starts: deque[float] = deque()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                if now < self._paused_until:
                    await asyncio.sleep(self._paused_until - now)
                    continue
                if self.max_requests is None:
                    return
                while self._starts and now - self._starts[0] >= self.window:
                    self._starts.popleft()
                if len(self._starts) < self.max_requests:
                    self._starts.append(now)
                    return
                await asyncio.sleep(self.window - (now - self._starts[0]) + 0.001)


def header_int(headers: Mapping[str, str], name: str) -> int | None:
    """A header's whole, non-negative number (`20`, `20.0`); None when absent or anything else."""
    try:
        value = int(float(headers.get(name, "")))
    except (ValueError, OverflowError):
        return None
    return value if value >= 0 else None


def header_date(headers: Mapping[str, str]) -> datetime | None:
    """The instant of an HTTP `Date` header (the server's clock when it answered, to the second), in UTC; None
    when absent, malformed or without a zone."""
    try:
        stamp = parsedate_to_datetime(headers.get("date", ""))
    except (TypeError, ValueError, IndexError):
        return None
    return stamp.astimezone(UTC) if stamp.tzinfo is not None else None


def header_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait according to Retry-After, x-ratelimit-reset or HubSpot's interval headers."""
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
            except (TypeError, ValueError):
                pass
    reset = headers.get("x-ratelimit-reset")
    if reset:
        try:
            return max(0.0, float(reset))
        except ValueError:
            pass
    if headers.get("x-hubspot-ratelimit-remaining") == "0":
        interval = headers.get("x-hubspot-ratelimit-interval-milliseconds")
        if interval and interval.isdigit():
            return int(interval) / 1000
    return None


def error_list(errors: Any) -> list[str]:
    """The messages of an `errors` list (or object) in an error body, in order, each after its `field` if named:
    Simplicate's `[{"code", "type", "message"}]`, and the many APIs shaped like it."""
    if isinstance(errors, dict):
        errors = list(errors.values())
    messages = []
    for item in errors if isinstance(errors, list) else []:
        if isinstance(item, dict):
            text = item.get("message") or item.get("detail") or item.get("type") or item.get("code")
            if text is not None:
                field = item.get("field")
                messages.append(f"{field}: {text}" if field else str(text))
        elif isinstance(item, str) and item:
            messages.append(item)
    return messages


def body_message(response: httpx.Response, kinds: Sequence[str] = ()) -> str:
    """The CRM's own error message from a response body, or a description of a body that has none; the first of
    the body's `kinds` fields (HubSpot's `category`, Pipedrive's `code`) is put in front: `KIND: message`."""
    content_type = response.headers.get("content-type", "unknown type")
    if not response.content:
        return "empty body"
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return f"non-JSON error page ({content_type.split(';')[0]}, {len(response.content)} bytes)"
    if isinstance(body, dict):
        kind = next((f"{body[k]}: " for k in kinds if isinstance(body.get(k), str) and body[k]), "")
        for key in ("message", "externalMessage", "error", "error_description"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return kind + value
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return str(value["message"])
        if messages := error_list(body.get("errors")):
            return kind + "; ".join(messages)
    return clip(json.dumps(body), 300) or ""


class ApiClient:
    """An async HTTP client for one connection.

    Connectors subclass it (or pass hooks) to read their CRM's error bodies and retry hints.

    Args:
        connection: The connection name, put in every error.
        base_url: The API's base URL.
        headers: Headers for every request, auth included (never logged).
        timeout: Seconds per request.
        limiter: Shared rate limiter.
        max_retries: Retries after the first attempt for retriable failures.
        max_concurrency: Requests in flight at once.
        backoff: Base of the exponential backoff when the CRM gives no hint, in seconds.
        max_wait: Longest wait the client accepts from a retry hint; a longer one fails now.
        transport: An httpx transport (tests use respx or an ASGI transport).
        deadline: Seconds one whole answer may take (default four times `timeout`): httpx's timeouts bound
            each read, so an answer drip-fed a byte at a time would otherwise never end.
    """

    retriable_statuses: frozenset[int] = RETRIABLE_STATUSES
    error_kinds: tuple[str, ...] = ()  # fields of an error body naming the kind of error (see `body_message`)
    daily_headers: tuple[str, str] | None = None  # the headers announcing the daily budget and what is left of it

    def __init__(
        self,
        connection: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        limiter: RateLimiter | None = None,
        max_retries: int = 5,
        max_concurrency: int = 4,
        backoff: float = 0.5,
        max_wait: float = 120.0,
        transport: httpx.AsyncBaseTransport | None = None,
        deadline: float | None = None,
    ) -> None:
        self.connection = connection
        self.deadline = deadline if deadline is not None else 4 * timeout
        self.limiter = limiter or RateLimiter(None, 1.0)
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_wait = max_wait
        self.stats: Counter[str] = Counter()
        # the CRM's daily request budget as its own headers report it (None: it reports none; see `observe`)
        self.daily_limit: int | None = None
        self.daily_remaining: int | None = None
        # since `mark_clock`: no later than the CRM's time when the first request reached it, and ours then
        self.first_clock: tuple[datetime, datetime] | None = None
        self._semaphore = asyncio.Semaphore(max_concurrency)
        context = tls_context() if httpx.URL(base_url).scheme != "http" else no_ca_context()
        if transport is None and not _proxied():  # behind a proxy, httpx's own transport goes there
            transport = WireTransport(context, max_idle=max_concurrency)
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=dict(headers or {}),
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
            verify=context,
        )
        self._client._cookies = NoCookies()  # set as it is: the `cookies` setter would copy it into a keeping store

    async def aclose(self) -> None:
        await self._client.aclose()

    def retry_after(self, response: httpx.Response) -> float | None:
        """Seconds the CRM asks us to wait before trying again. Override for hints in the body."""
        return header_retry_after(response.headers)

    def error_detail(self, response: httpx.Response) -> str:
        """The CRM's error message. Override for unusual bodies."""
        return body_message(response, self.error_kinds)

    def observe(self, response: httpx.Response) -> None:
        """Called with every response, errors included, before it is judged. Override to adapt to rate-limit
        headers the CRM sends on each answer; the default does nothing."""

    def is_retriable(self, response: httpx.Response) -> bool:
        return response.status_code in self.retriable_statuses

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hint = getattr(exc, "retry_after", None)
        if hint is not None:
            return float(hint)
        exp = self.backoff * (2 ** (state.attempt_number - 1))
        return float(min(30.0, exp) * (0.5 + random.random() / 2))

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        ok: tuple[int, ...] = (200, 201, 204, 207),
    ) -> httpx.Response:
        """Send one request with retries; return the response when its status is in `ok`.

        Raises:
            AuthError: 401 or 403.
            TransportError: the CRM could not be reached after every retry.
            RetriableApiError: 429/5xx after every retry.
            ApiError: any other error status, with the CRM's message.
        """
        retrying = AsyncRetrying(
            retry=retry_if_exception_type((RetriableApiError, TransportError)),
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._send(method, path, params, json_body, ok)
        raise AssertionError("unreachable")  # pragma: no cover

    def json(self, response: httpx.Response) -> Any:
        """The decoded JSON body of a successful response.

        A proxy or captive portal may answer 200 with an HTML page; that becomes an `ApiError` naming the request,
        not a JSONDecodeError from deep inside a connector.

        Raises:
            ApiError: the body is empty or not JSON.
        """
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):  # RecursionError: absurdly deep nesting
            pass
        content_type = response.headers.get("content-type", "unknown type").split(";")[0].strip()
        raise self.broken(response, f"with a non-JSON body ({content_type}, {len(response.content)} bytes)")

    def where(self, response: httpx.Response) -> tuple[str, str]:
        """The method and the path (as the connector asked for it, without the base URL's prefix) of an answer."""
        request = response.request
        path = request.url.path
        prefix = self._client.base_url.path.rstrip("/")
        if prefix and path.startswith(prefix + "/"):
            path = path[len(prefix) :]
        return request.method, path

    def broken(self, response: httpx.Response, what: str) -> ApiError:
        """An ApiError for a successful answer whose body breaks the API's contract: it names the request."""
        method, path = self.where(response)
        status = response.status_code
        return ApiError(
            f"{method} {path} answered {status} {what}",
            status=status,
            method=method,
            path=path,
            connection=self.connection,
        )

    def check_body(self, body: dict[str, Any]) -> str | None:
        """What is wrong with a decoded JSON object beyond being one (an envelope without success), or None.
        Override for CRMs that wrap every answer."""
        return None

    def object(self, response: httpx.Response) -> dict[str, Any]:
        """The decoded body of a successful answer, which must be a JSON object the CRM's envelope accepts.

        Raises:
            ApiError: the body is not JSON, not an object, or `check_body` finds it broken.
        """
        body = self.json(response)
        if not isinstance(body, dict):
            raise self.broken(response, f"with JSON that is not an object ({type(body).__name__})")
        problem = self.check_body(body)
        if problem is not None:
            raise self.broken(response, problem)
        return body

    async def request_object(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        ok: tuple[int, ...] = (200, 201, 204, 207),
    ) -> dict[str, Any]:
        """`request`, then `object` of its response."""
        return self.object(await self.request(method, path, params=params, json_body=json_body, ok=ok))

    async def request_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        ok: tuple[int, ...] = (200, 201, 204, 207),
    ) -> Any:
        """`request`, then `json` of its response."""
        return self.json(await self.request(method, path, params=params, json_body=json_body, ok=ok))

    def mark_clock(self) -> None:
        """Keep the CRM's clock at the next successful answer as `first_clock` (a listing is about to start)."""
        self.first_clock = None

    def note_clock(self, date: datetime | None, seconds: float) -> None:
        """Take the CRM's clock from a successful answer's Date, `seconds` after its request went out.

        The request reached the CRM at the earliest `seconds` before the Date (which HTTP cuts to the second,
        so it is never later than the CRM's time when it answered): `first_clock` holds that lower bound of the
        CRM's time when it received the request, and our time when we sent it.
        """
        if date is not None and self.first_clock is None:
            spent = timedelta(seconds=max(0.0, seconds))
            self.first_clock = (date - spent, datetime.now(UTC) - spent)

    async def _send(
        self, method: str, path: str, params: Mapping[str, Any] | None, json_body: Any, ok: tuple[int, ...]
    ) -> httpx.Response:
        await self.limiter.acquire()
        async with self._semaphore:
            started = time.monotonic()
            self.stats[method] += 1
            try:
                async with asyncio.timeout(self.deadline):
                    response = await self._client.request(method, path, params=params, json=json_body)
            except TimeoutError:
                log.warning("%s %s: no whole answer in %.0f s", method, path, self.deadline)
                raise TransportError(
                    f"{method} {path}: no whole answer within {self.deadline:.0f} s", connection=self.connection
                ) from None
            except httpx.TimeoutException:
                log.warning("%s %s timed out", method, path, extra={"connection": self.connection})
                raise TransportError(f"{method} {path}: timed out", connection=self.connection) from None
            except httpx.TransportError as exc:
                raise TransportError(
                    f"{method} {path}: cannot reach the CRM ({type(exc).__name__})",
                    connection=self.connection,
                ) from None
        log.debug(
            "%s %s -> %s in %.0f ms",
            method,
            path,
            response.status_code,
            (time.monotonic() - started) * 1000,
            extra={"connection": self.connection},
        )
        if self.daily_headers is not None:
            limit, left = (header_int(response.headers, name) for name in self.daily_headers)
            self.daily_limit = self.daily_limit if limit is None else limit
            self.daily_remaining = self.daily_remaining if left is None else left
        self.observe(response)
        if response.status_code == 429:
            self.stats["throttled"] += 1
        if response.status_code in ok:
            if self.first_clock is None:  # the Date is read until the listing's first answer gives the clock
                self.note_clock(header_date(response.headers), time.monotonic() - started)
            return response
        return self._raise(method, path, response)

    def _raise(self, method: str, path: str, response: httpx.Response) -> httpx.Response:
        status = response.status_code
        detail = self.error_detail(response)
        where = {
            "status": status,
            "method": method,
            "path": path,
            "detail": detail,
            "connection": self.connection,
        }
        message = f"{method} {path} answered {status}: {detail}"
        if status in (401, 403):
            raise AuthError(
                f"{message} (check the credentials in the connection's settings)",
                connection=self.connection,
                status=status,
            )
        if self.is_retriable(response):
            hint = self.retry_after(response)
            self.stats["retried"] += 1
            if hint is not None and hint > self.max_wait:
                raise ApiError(f"{message}; the CRM asks to retry after {hint:.0f} s", **where)  # type: ignore[arg-type]
            if status == 429:
                self.limiter.pause(hint if hint is not None else self.backoff)
            log.info(
                "%s; retrying%s",
                message,
                f" after {hint:.1f} s" if hint is not None else "",
                extra={"connection": self.connection},
            )
            raise RetriableApiError(message, retry_after=hint, **where)
        raise ApiError(message, **where)  # type: ignore[arg-type]


class CursorGuard:
    """Detects a paging loop: a cursor (or offset) handed back twice within one listing."""

    def __init__(self, connection: str, what: str) -> None:
        self.connection = connection
        self.what = what
        self._seen: set[str] = set()

    def see(self, cursor: str | int | None) -> None:
        if cursor is None:
            return
        key = str(cursor)
        if key in self._seen:
            raise PaginationError(
                f"{self.what}: the CRM returned cursor {key!r} twice; stopping to avoid a paging loop",
                connection=self.connection,
            )
        self._seen.add(key)
