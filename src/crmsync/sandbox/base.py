"""What every CRM sandbox offers: an ASGI app speaking the CRM's API, and a control surface for tests.

The control methods (`touch`, `edit_by_hand`, `delete`, …) act as a person in the CRM's own UI would, so tests and
the demo can change the remote side between syncs without going through crmsync.
"""

from __future__ import annotations

import abc
import asyncio
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass
class Faults:
    """Faults a sandbox injects, for tests of retry and error handling.

    Attributes:
        latency: Seconds added to every request.
        error_rate: Fraction of requests answered with a 5xx.
        rate_limit_rate: Fraction of requests answered 429.
        drop_rate: Fraction of requests whose connection is dropped mid-response (before the CRM acts on them).
        lost_rate: Fraction of requests the CRM carries out whose answer is then lost (the connection drops).
        stall_rate: Fraction of requests held `stall_seconds` before the CRM acts on them and answers (a client
            with a shorter timeout gives up, and the request is carried out after it did).
        slow_rate: Fraction of requests answered `slow_seconds` late (slow, but within a sane timeout).
        retry_after_share: Share of the 429s that carry a Retry-After header.
        script: Forced answers for the next requests, in order: '429', '429-retry-after', '503', 'drop',
            'html' (a 200 with an HTML page, as a proxy might send), '401' (the credentials were revoked) and 'echo'
            (a 400 whose body echoes the request's headers, credentials included, as some debug proxies do),
            'lost' and 'stall' (see the rates).
        seed: Seed of the random generator deciding the fractions.
    """

    latency: float = 0.0
    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    drop_rate: float = 0.0
    lost_rate: float = 0.0
    stall_rate: float = 0.0
    stall_seconds: float = 3.0
    slow_rate: float = 0.0
    slow_seconds: float = 0.3
    retry_after_share: float = 0.0
    script: list[str] = field(default_factory=list)
    seed: int = 0

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()

    def next(self) -> str | None:
        """The fault for the next request, or None."""
        with self._lock:
            if self.script:
                return self.script.pop(0)
            roll = self._random.random()
        if roll < self.rate_limit_rate:
            if self.retry_after_share and self._second() < self.retry_after_share:
                return "429-retry-after"
            return "429"
        if roll < self.rate_limit_rate + self.error_rate:
            return "503"
        if (roll := roll - self.rate_limit_rate - self.error_rate - self.drop_rate) < 0:
            return "drop"
        if roll < self.lost_rate:
            return "lost"
        if roll < self.lost_rate + self.stall_rate:
            return "stall"
        if roll < self.lost_rate + self.stall_rate + self.slow_rate:
            return "slow"
        return None

    def _second(self) -> float:
        with self._lock:
            return self._random.random()


class Sandbox(abc.ABC):
    """A seeded local emulator of one CRM's API.

    Args:
        deals: How many deals to seed.
        seed: Seed of the generator, so a sandbox is the same every time.
    """

    name: str

    def __init__(self, *, deals: int = 60, seed: int = 7) -> None:
        self.seed = seed
        self.n_deals = deals
        self.faults = Faults(seed=seed)
        self.requests: Counter[str] = Counter()
        self.answered = 0  # every HTTP request that reached the sandbox, faults included
        self.lock = threading.RLock()
        self._window: list[float] = []
        self.rate_limit: tuple[int, float] | None = None  # (requests, seconds); None = unlimited

    # -- serving ---------------------------------------------------------------------------------------------

    @abc.abstractmethod
    def routes_app(self) -> ASGIApp:
        """The app speaking the CRM's API."""

    def app(self) -> ASGIApp:
        """The API app wrapped with request counting, the rate limit and injected faults."""
        return _FaultMiddleware(self.routes_app(), self)

    @abc.abstractmethod
    def settings(self, base_url: str) -> dict[str, Any]:
        """Connector settings (credentials included) that reach this sandbox at `base_url`."""

    def too_many_requests(self, retry_after: float | None) -> Response:
        """The CRM's own 429 answer. Override for its exact body and headers."""
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        return JSONResponse({"error": "rate limited"}, status_code=429, headers=headers)

    def unavailable(self) -> Response:
        """The CRM's own 5xx answer. Override for its exact body."""
        return JSONResponse({"error": "service unavailable"}, status_code=503)

    def over_limit(self, now: float) -> float | None:
        """Seconds until the window frees a slot when the rate limit is exceeded, else None."""
        if self.rate_limit is None:
            return None
        limit, seconds = self.rate_limit
        with self.lock:
            self._window = [t for t in self._window if now - t < seconds]
            if len(self._window) >= limit:
                return seconds - (now - self._window[0])
            self._window.append(now)
        return None

    # -- control surface (acts as a person in the CRM would) --------------------------------------------------

    @abc.abstractmethod
    def deal_ids(self) -> list[str]:
        """Ids of every live (not deleted or archived) deal."""

    @abc.abstractmethod
    def touch(self, deal_id: str) -> None:
        """Edit a deal so its modification time moves to now."""

    @abc.abstractmethod
    def edit_by_hand(self, deal_id: str, category: str | None = None, probability: str | None = None) -> None:
        """Set the deal's category/probability fields as a salesperson would in the CRM's UI (remote values)."""

    @abc.abstractmethod
    def remote_values(self, deal_id: str) -> tuple[str | None, str | None]:
        """The deal's category and probability field values as the CRM holds them (remote representation)."""

    @abc.abstractmethod
    def delete(self, deal_id: str) -> None:
        """Delete (or archive) a deal as the CRM would."""

    @abc.abstractmethod
    def missing_id(self) -> str:
        """An id no deal has, for partial-failure tests."""

    def listing_requests(self) -> int:
        """How many deal-listing requests this sandbox answered (lists and searches)."""
        return sum(n for key, n in self.requests.items() if key.startswith("list"))


class _FaultMiddleware:
    def __init__(self, app: ASGIApp, sandbox: Sandbox) -> None:
        self.inner = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        with self.sandbox.lock:
            self.sandbox.answered += 1
        faults = self.sandbox.faults
        if faults.latency:
            await asyncio.sleep(faults.latency)
        loop = asyncio.get_running_loop()
        wait = self.sandbox.over_limit(loop.time())
        if wait is not None:
            await self.sandbox.too_many_requests(round(wait + 0.05, 2))(scope, receive, send)
            return
        fault = faults.next()
        if fault == "429":
            await self.sandbox.too_many_requests(None)(scope, receive, send)
        elif fault == "429-retry-after":
            await self.sandbox.too_many_requests(0.2)(scope, receive, send)
        elif fault == "503":
            await self.sandbox.unavailable()(scope, receive, send)
        elif fault in ("drop", "lost"):
            if fault == "lost":  # the CRM does the work; the answer is what gets lost

                async def swallow(_message: Message) -> None:
                    return None

                await self.inner(scope, receive, swallow)
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1000")]})
            await send({"type": "http.response.body", "body": b"{", "more_body": True})
            raise ConnectionAbortedError("sandbox dropped the connection on purpose")
        elif fault in ("stall", "slow"):
            await asyncio.sleep(faults.stall_seconds if fault == "stall" else faults.slow_seconds)
            await self.inner(scope, receive, send)
        elif fault == "html":
            await HTMLResponse("<html><body>Please log in to the proxy</body></html>")(scope, receive, send)
        elif fault == "401":
            await JSONResponse({"error": "credentials revoked"}, status_code=401)(scope, receive, send)
        elif fault == "echo":  # a debug proxy refusing the request and echoing its credentials
            headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
            # no "message" key, so a client shows the body itself; the credential sits across character 300
            body = {"refused": "x" * 238, "authorization": headers.get("authorization", "")}
            await JSONResponse(body, status_code=400)(scope, receive, send)
        else:
            await self.inner(scope, receive, send)
