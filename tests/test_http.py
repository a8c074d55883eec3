"""ApiClient, RateLimiter and CursorGuard: retries, error translation, rate limiting and redaction (respx).

Waits are recorded instead of slept: `Recording` returns 0 from `_wait` and its limiter records pauses, so the
tests assert which wait the client chose without depending on the wall clock.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import types
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import certifi
import httpx
import pytest
import respx
from tenacity import RetryCallState

from crmsync import logs, redact
from crmsync.errors import ApiError, AuthError, PaginationError, RetriableApiError, TransportError
from crmsync.http import (
    ApiClient,
    CursorGuard,
    RateLimiter,
    body_message,
    header_date,
    header_int,
    header_retry_after,
    no_ca_context,
    tls_context,
)

BASE = "https://crm.example.test/api"
SECRET = "sk-live-4f9c2a7e5b1d"  # registered with redact below; must never be printed


class RecordingLimiter(RateLimiter):
    def __init__(self) -> None:
        super().__init__(None, 1.0)
        self.pauses: list[float] = []

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)


class Recording(ApiClient):
    """Records the wait chosen before each retry and does not sleep."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("limiter", RecordingLimiter())
        super().__init__("crm", BASE, headers={"Authorization": f"Bearer {SECRET}"}, **kwargs)
        self.waits: list[float] = []

    def _wait(self, state: RetryCallState) -> float:
        self.waits.append(super()._wait(state))
        return 0.0


@pytest.fixture(autouse=True)
def _secret() -> None:
    redact.register(SECRET)


@pytest.fixture
async def client() -> AsyncIterator[Recording]:
    client = Recording(max_retries=3)
    yield client
    await client.aclose()


@pytest.fixture
def api() -> respx.MockRouter:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


OK = httpx.Response(200, json={"results": []})


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"Retry-After": "0.25"}, 0.25),
        ({"X-RateLimit-Reset": "4"}, 4.0),
        ({"X-HubSpot-RateLimit-Remaining": "0", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}, 10.0),
    ],
    ids=["retry-after", "retry-after-fraction", "x-ratelimit-reset", "hubspot-interval"],
)
async def test_429_is_retried_after_the_hinted_wait(
    client: Recording, api: respx.MockRouter, headers: dict[str, str], wait: float
) -> None:
    route = api.get("/deals").mock(side_effect=[httpx.Response(429, headers=headers, json={"message": "slow"}), OK])

    response = await client.request("GET", "/deals")

    assert response.status_code == 200
    assert route.call_count == 2
    assert client.waits == [wait]
    assert isinstance(client.limiter, RecordingLimiter)
    assert client.limiter.pauses == [wait], "a 429 holds back every caller sharing the limiter"
    assert client.stats["retried"] == 1


async def test_429_without_any_hint_backs_off_exponentially(client: Recording, api: respx.MockRouter) -> None:
    client.backoff = 0.5
    busy = httpx.Response(429, json={"message": "slow down"})
    route = api.get("/deals").mock(side_effect=[busy, busy, busy, OK])

    await client.request("GET", "/deals")

    assert route.call_count == 4
    # attempt n waits backoff × 2^(n-1), jittered into its upper half
    for attempt, wait in enumerate(client.waits, start=1):
        full = 0.5 * 2 ** (attempt - 1)
        assert full / 2 <= wait <= full
    assert isinstance(client.limiter, RecordingLimiter)
    assert client.limiter.pauses == [0.5, 0.5, 0.5]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_is_retried(client: Recording, api: respx.MockRouter, status: int) -> None:
    route = api.post("/deals/batch").mock(side_effect=[httpx.Response(status, json={"message": "oops"}), OK])

    response = await client.request("POST", "/deals/batch", json_body={"inputs": []})

    assert response.status_code == 200
    assert route.call_count == 2
    assert isinstance(client.limiter, RecordingLimiter)
    assert client.limiter.pauses == [], "only a 429 pauses the shared limiter"


@pytest.mark.parametrize(
    "error",
    [httpx.ConnectError("refused"), httpx.ReadError("reset by peer"), httpx.RemoteProtocolError("dropped")],
    ids=["connect", "read", "protocol"],
)
async def test_transport_errors_are_retried(client: Recording, api: respx.MockRouter, error: Exception) -> None:
    route = api.get("/deals").mock(side_effect=[error, error, OK])

    response = await client.request("GET", "/deals")

    assert response.status_code == 200
    assert route.call_count == 3


async def test_gives_up_after_max_retries_with_retriable_api_error(client: Recording, api: respx.MockRouter) -> None:
    route = api.get("/deals").mock(return_value=httpx.Response(503, json={"message": "maintenance"}))

    with pytest.raises(RetriableApiError) as caught:
        await client.request("GET", "/deals")

    assert route.call_count == client.max_retries + 1
    assert caught.value.status == 503
    assert caught.value.method == "GET"
    assert caught.value.path == "/deals"
    assert caught.value.connection == "crm"
    assert str(caught.value) == "[crm] GET /deals answered 503: maintenance"


async def test_unreachable_after_retries_is_a_transport_error(client: Recording, api: respx.MockRouter) -> None:
    route = api.get("/deals").mock(side_effect=httpx.ConnectError("connection refused"))

    with pytest.raises(TransportError, match=r"GET /deals: cannot reach the CRM \(ConnectError\)") as caught:
        await client.request("GET", "/deals")

    assert route.call_count == client.max_retries + 1
    assert caught.value.exit_code == 3


async def test_timeout_is_a_transport_error(client: Recording, api: respx.MockRouter) -> None:
    api.get("/deals").mock(side_effect=httpx.ReadTimeout("slow"))

    with pytest.raises(TransportError, match="GET /deals: timed out"):
        await client.request("GET", "/deals")


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_credentials_are_an_auth_error_at_once(
    client: Recording, api: respx.MockRouter, status: int
) -> None:
    route = api.get("/deals").mock(return_value=httpx.Response(status, json={"message": "token expired"}))

    with pytest.raises(AuthError) as caught:
        await client.request("GET", "/deals")

    assert route.call_count == 1
    assert "token expired" in str(caught.value)
    assert "check the credentials" in str(caught.value)
    assert caught.value.exit_code == 3


async def test_400_is_an_api_error_with_the_crms_message(client: Recording, api: respx.MockRouter) -> None:
    body = {"status": "error", "message": "Property values were not valid", "category": "VALIDATION_ERROR"}
    route = api.post("/deals/batch").mock(return_value=httpx.Response(400, json=body))

    with pytest.raises(ApiError) as caught:
        await client.request("POST", "/deals/batch", json_body={})

    assert type(caught.value) is ApiError
    assert route.call_count == 1
    assert (caught.value.status, caught.value.method, caught.value.path) == (400, "POST", "/deals/batch")
    assert caught.value.detail == "Property values were not valid"
    assert "POST /deals/batch answered 400: Property values were not valid" in str(caught.value)


async def test_query_string_never_appears_in_the_error(client: Recording, api: respx.MockRouter) -> None:
    api.get("/deals").mock(return_value=httpx.Response(404, json={"message": "no such thing"}))

    with pytest.raises(ApiError) as caught:
        await client.request("GET", "/deals", params={"api_token": "q-token-123456"})

    assert "q-token-123456" not in str(caught.value)
    assert caught.value.path == "/deals"


async def test_non_json_error_page_is_described(client: Recording, api: respx.MockRouter) -> None:
    page = b"<html><body><h1>Bad gateway</h1></body></html>"
    api.get("/deals").mock(
        return_value=httpx.Response(400, content=page, headers={"content-type": "text/html; charset=utf-8"})
    )

    with pytest.raises(ApiError) as caught:
        await client.request("GET", "/deals")

    assert caught.value.detail == f"non-JSON error page (text/html, {len(page)} bytes)"


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(400, json={"error": {"message": "nested"}}), "nested"),
        (httpx.Response(400, json={"errors": [{"message": "first of many"}]}), "first of many"),
        (httpx.Response(400, json={"error_description": "bad grant"}), "bad grant"),
        (httpx.Response(400, content=b""), "empty body"),
        (httpx.Response(400, json=[1, 2]), "[1, 2]"),
    ],
    ids=["nested", "errors-list", "oauth", "empty", "other-json"],
)
def test_body_message_finds_the_crms_message(response: httpx.Response, message: str) -> None:
    assert body_message(response) == message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"category": "VALIDATION_ERROR", "message": "bad"}, "VALIDATION_ERROR: bad"),
        ({"errorType": "RATE_LIMIT", "message": "slow down"}, "RATE_LIMIT: slow down"),
        ({"category": "", "message": "bad"}, "bad"),  # an empty kind is no kind
        ({"success": False, "error": "Deal not found"}, "Deal not found"),
    ],
)
def test_a_declared_error_kind_leads_the_message(body: dict[str, Any], message: str) -> None:
    assert body_message(httpx.Response(400, json=body), ("category", "errorType")) == message


async def test_a_hint_longer_than_max_wait_fails_at_once(api: respx.MockRouter) -> None:
    client = Recording(max_retries=5, max_wait=60)
    route = api.get("/deals").mock(return_value=httpx.Response(429, headers={"Retry-After": "3600"}))

    with pytest.raises(ApiError, match="asks to retry after 3600 s") as caught:
        await client.request("GET", "/deals")
    await client.aclose()

    assert not isinstance(caught.value, RetriableApiError)
    assert route.call_count == 1
    assert client.waits == []


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after": "12"}, 12.0),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({"x-ratelimit-reset": "2.5"}, 2.5),
        ({"x-hubspot-ratelimit-remaining": "0", "x-hubspot-ratelimit-interval-milliseconds": "1000"}, 1.0),
        ({"x-hubspot-ratelimit-remaining": "7", "x-hubspot-ratelimit-interval-milliseconds": "1000"}, None),
        ({"retry-after": "5", "x-ratelimit-reset": "50"}, 5.0),
    ],
)
def test_header_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert header_retry_after(httpx.Headers(headers)) == expected


def test_header_retry_after_http_date() -> None:
    later = datetime.now(UTC) + timedelta(minutes=10)
    wait = header_retry_after(httpx.Headers({"retry-after": format_datetime(later, usegmt=True)}))
    assert wait is not None
    assert 500 < wait <= 600


def test_cursor_guard_raises_on_a_repeated_cursor() -> None:
    guard = CursorGuard("crm", "GET deals")
    for cursor in ("a", "b", None, None, 100):
        guard.see(cursor)
    with pytest.raises(PaginationError, match="GET deals: the CRM returned cursor 'b' twice") as caught:
        guard.see("b")
    assert caught.value.connection == "crm"
    with pytest.raises(PaginationError):
        guard.see("100")  # an offset and its string form are the same cursor


class FakeClock:
    """Replaces `time` and `asyncio` inside crmsync.http: sleeping advances the clock instead of waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []
        self.time = types.SimpleNamespace(monotonic=lambda: self.now, time=lambda: self.now)
        self.asyncio = types.SimpleNamespace(
            sleep=self.sleep, Lock=asyncio.Lock, Semaphore=asyncio.Semaphore, timeout=asyncio.timeout
        )

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr("crmsync.http.time", fake.time)
    monkeypatch.setattr("crmsync.http.asyncio", fake.asyncio)
    return fake


def max_in_window(starts: list[float], window: float) -> int:
    return max(sum(1 for s in starts if first <= s < first + window) for first in starts)


async def test_rate_limiter_keeps_within_its_window(clock: FakeClock) -> None:
    limiter = RateLimiter(3, 10.0)
    starts: list[float] = []

    async def one() -> None:
        await limiter.acquire()
        starts.append(clock.now)

    await asyncio.gather(*(one() for _ in range(10)))

    assert len(starts) == 10
    assert max_in_window(starts, 10.0) == 3
    assert starts[:3] == [1000.0] * 3, "the first window's requests start at once"
    assert starts[-1] - starts[0] >= 30.0, "ten starts at three per ten seconds need three full windows"


async def test_rate_limiter_without_limit_never_waits(clock: FakeClock) -> None:
    limiter = RateLimiter(None, 1.0)
    for _ in range(100):
        await limiter.acquire()
    assert clock.slept == []


async def test_rate_limiter_pause_holds_every_caller(clock: FakeClock) -> None:
    limiter = RateLimiter(100, 10.0)
    await limiter.acquire()
    limiter.pause(5.0)
    await limiter.acquire()
    assert clock.now >= 1005.0
    limiter.pause(1.0)
    limiter.pause(0.5)  # a shorter pause does not shorten a longer one
    before = clock.now
    await limiter.acquire()
    assert clock.now - before >= 1.0


async def test_client_requests_go_through_the_limiter(clock: FakeClock, api: respx.MockRouter) -> None:
    route = api.get("/deals").mock(return_value=OK)
    client = ApiClient("crm", BASE, limiter=RateLimiter(2, 1.0))
    starts = []
    for _ in range(6):
        await client.request("GET", "/deals")
        starts.append(clock.now)
    await client.aclose()
    assert route.call_count == 6
    assert max_in_window(starts, 1.0) == 2


async def test_secrets_never_appear_in_errors_or_logs(
    client: Recording, api: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.handler.addFilter(redact.RedactingFilter())  # as logs.configure does for crmsync's handler
    echo = {"message": f"token {SECRET} is not valid for this portal"}
    api.get("/a").mock(side_effect=[httpx.Response(429, json=echo), httpx.Response(400, json=echo)])
    api.get("/b").mock(return_value=httpx.Response(401, json=echo))

    with caplog.at_level(logging.DEBUG, logger="crmsync"):
        with pytest.raises(ApiError) as bad_request:
            await client.request("GET", "/a")
        with pytest.raises(AuthError) as refused:
            await client.request("GET", "/b")
        logging.getLogger("crmsync.test").error("failed with %s", SECRET)

    for error in (bad_request.value, refused.value):
        assert SECRET not in str(error)
        assert "token *** is not valid" in str(error)
    assert "retrying" in caplog.text, "the retry was logged"
    assert SECRET not in caplog.text
    assert all(SECRET not in record.getMessage() for record in caplog.records)


async def test_json_logs_are_redacted(capsys: pytest.CaptureFixture[str], api: respx.MockRouter) -> None:
    logs.configure("json", "DEBUG")
    client = Recording(max_retries=1)
    api.get("/a").mock(side_effect=[httpx.Response(503, json={"message": f"bad {SECRET}"}), OK])
    await client.request("GET", "/a")
    await client.aclose()
    try:
        raise RuntimeError(f"inside {SECRET}")
    except RuntimeError:
        logging.getLogger("crmsync.test").exception("boom")

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert any("retrying" in line["message"] and line.get("connection") == "crm" for line in lines)
    assert any(line["message"] == "boom" and "inside ***" in line.get("exception", "") for line in lines)
    assert SECRET not in json.dumps(lines)


def test_library_logs_go_through_the_redacting_handler(capsys: pytest.CaptureFixture[str]) -> None:
    """APScheduler's child loggers (apscheduler.executors.default) are redacted and formatted like crmsync's."""
    import logging as std_logging

    from crmsync import logs
    from crmsync.redact import register

    register("pat-child-logger-secret-42")
    logs.configure("json", "warning")
    try:
        std_logging.getLogger("apscheduler.executors.default").error("Job raised: token pat-child-logger-secret-42")
        err = capsys.readouterr().err
    finally:
        std_logging.getLogger("crmsync").propagate = True
        for name in ("httpx", "httpcore", "apscheduler", "uvicorn", "alembic"):
            std_logging.getLogger(name).handlers[:] = []
            std_logging.getLogger(name).propagate = True
    assert "pat-child-logger-secret-42" not in err
    line = next(line for line in err.splitlines() if "Job raised" in line)
    assert json.loads(line)["logger"] == "apscheduler.executors.default"


async def test_an_answer_that_never_completes_is_cut_off_by_the_deadline() -> None:
    """httpx's timeouts bound each read; an answer drip-fed a byte at a time is bounded by the whole-answer deadline."""

    async def drip(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(200, json={})

    client = ApiClient("c", "http://crm.test", transport=httpx.MockTransport(drip), max_retries=0, deadline=0.2)
    try:
        with pytest.raises(TransportError, match=r"GET /slow: no whole answer within 0 s"):
            await client.request("GET", "/slow")
    finally:
        await client.aclose()


@pytest.mark.parametrize(("value", "number"), [("20", 20), ("20.0", 20), ("", None), ("-1", None), ("soon", None)])
def test_header_int_reads_whole_non_negative_numbers(value: str, number: int | None) -> None:
    assert header_int(httpx.Headers({"x-n": value}), "x-n") == number
    assert header_int(httpx.Headers(), "x-n") is None


async def test_a_declared_daily_budget_is_read_from_every_answer() -> None:
    answers = iter([{"x-day": "1000", "x-left": "990"}, {"x-left": "989"}, {"x-day": "junk"}])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={}, headers=next(answers))

    client = ApiClient("c", "http://crm.test", transport=httpx.MockTransport(handler))
    client.daily_headers = ("x-day", "x-left")
    await client.request("GET", "/a")
    assert (client.daily_limit, client.daily_remaining) == (1000, 990)
    await client.request("GET", "/b")
    await client.request("GET", "/c")
    assert (client.daily_limit, client.daily_remaining) == (1000, 989), "a missing or unreadable header keeps the last"
    await client.aclose()


async def test_the_crms_clock_is_the_date_of_the_first_successful_answer_that_has_one() -> None:
    answers = iter(
        [
            (200, {}),  # no Date
            (200, {"date": "not a date"}),
            (404, {"date": "Fri, 04 Dec 2026 09:00:00 GMT"}),  # an error's Date may be a proxy's: not taken
            (200, {"date": "Fri, 04 Dec 2026 08:31:05 GMT"}),
            (200, {"date": "Fri, 04 Dec 2026 08:45:00 GMT"}),  # the clock is taken: later answers do not move it
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        status, headers = next(answers)
        return httpx.Response(status, json={}, headers=headers)

    client = ApiClient("c", "http://crm.test", transport=httpx.MockTransport(handler))
    await client.request("GET", "/a")
    await client.request("GET", "/b")
    assert client.first_clock is None
    with pytest.raises(ApiError):
        await client.request("GET", "/c")
    assert client.first_clock is None
    await client.request("GET", "/d")
    assert client.first_clock is not None
    assert (
        datetime(2026, 12, 4, 8, 31, 4, tzinfo=UTC)
        < client.first_clock[0]
        <= datetime(2026, 12, 4, 8, 31, 5, tzinfo=UTC)
    )
    taken = client.first_clock
    await client.request("GET", "/e")
    assert client.first_clock == taken
    await client.aclose()


async def test_first_clock_is_the_first_answer_after_the_mark_less_its_round_trip() -> None:
    dates = iter(["Fri, 04 Dec 2026 08:30:00 GMT", "Fri, 04 Dec 2026 08:40:00 GMT", "Fri, 04 Dec 2026 08:50:00 GMT"])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={}, headers={"date": next(dates)})

    client = ApiClient("c", "http://crm.test", transport=httpx.MockTransport(handler))
    await client.request("GET", "/reference")
    client.mark_clock()  # a listing starts: the answers before it do not count
    assert client.first_clock is None
    sent = datetime.now(UTC)
    await client.request("GET", "/page-1")
    await client.request("GET", "/page-2")
    assert client.first_clock is not None
    crm, ours = client.first_clock
    assert crm <= datetime(2026, 12, 4, 8, 40, tzinfo=UTC), "page 1's Date, less the request's round trip"
    assert crm > datetime(2026, 12, 4, 8, 39, 59, tzinfo=UTC)
    assert sent - timedelta(seconds=1) < ours <= datetime.now(UTC)
    await client.aclose()


def test_first_clock_goes_back_by_the_whole_round_trip() -> None:
    client = ApiClient("c", "http://crm.test")
    date = datetime(2026, 12, 4, 8, 30, tzinfo=UTC)
    client.note_clock(date, 2.5)  # the CRM may have received the request as early as 2.5 s before it answered
    client.note_clock(date + timedelta(minutes=1), 0.1)  # a later answer does not replace the first
    assert client.first_clock is not None
    assert client.first_clock[0] == date - timedelta(seconds=2.5)
    client.note_clock(None, 0.1)
    assert client.first_clock[0] == date - timedelta(seconds=2.5), "an answer without a Date changes nothing"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Fri, 04 Dec 2026 08:30:00 GMT", datetime(2026, 12, 4, 8, 30, tzinfo=UTC)),
        ("Fri, 04 Dec 2026 10:30:00 +0200", datetime(2026, 12, 4, 8, 30, tzinfo=UTC)),
        ("Fri, 04 Dec 2026 08:30:00 -0000", None),  # RFC 5322's "no zone known"
        ("", None),
        ("yesterday", None),
    ],
)
def test_header_date(value: str, expected: datetime | None) -> None:
    assert header_date(httpx.Headers({"date": value})) == expected


async def test_clients_share_one_tls_context_made_as_httpx_makes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    first, second = ApiClient("a", "https://one.test"), ApiClient("b", "https://two.test")
    shared = tls_context()
    assert shared is tls_context()
    assert shared.verify_mode == ssl.CERT_REQUIRED and shared.check_hostname
    assert shared.cert_store_stats()["x509_ca"] > 0, "certifi's bundle is loaded"
    for client in (first, second):
        pool = client._client._transport._pool  # the wire pool under httpx, built with the context given
        assert pool.ssl_context is shared
        await client.aclose()


async def test_a_plain_http_client_loads_no_ca_bundle_and_trusts_no_certificate() -> None:
    client = ApiClient("sandbox", "http://127.0.0.1:8080/api")
    context = client._client._transport._pool.ssl_context
    assert context is no_ca_context() and context is not tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname, "an https URL would fail, not pass"
    assert context.cert_store_stats()["x509_ca"] == 0
    await client.aclose()


def test_a_tls_context_follows_ssl_cert_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    default = tls_context()
    first = Path(certifi.where()).read_text().split(END)[0] + END  # one CA certificate of certifi's bundle
    (tmp_path / "ca.pem").write_text(first)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    own = tls_context()
    assert own is not default
    assert own.cert_store_stats()["x509_ca"] == 1, "the named bundle's one certificate, not certifi's"
    assert tls_context() is own


END = "-----END CERTIFICATE-----\n"


async def test_cookies_a_crm_sets_are_neither_kept_nor_sent_back(client: Recording, api: respx.MockRouter) -> None:
    cookie = "__cf_bm=abc123; Path=/; Domain=crm.example.test; HttpOnly"
    route = api.get("/deals").mock(return_value=httpx.Response(200, json={}, headers={"Set-Cookie": cookie}))
    await client.request("GET", "/deals")
    await client.request("GET", "/deals")
    assert route.call_count == 2
    assert "cookie" not in route.calls.last.request.headers
    assert len(client._client.cookies) == 0
