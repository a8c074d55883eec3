"""Webhooks sent by a sandbox, as its CRM would send them: posted from a thread of their own, in order.

A sandbox builds each request (URL, headers, body) the way its CRM does (HubSpot signs, Pipedrive uses basic auth)
and hands it here; delivery failures are kept in `failures`, never raised into the sandbox's request handling.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field

import httpx


@dataclass
class Outbound:
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookSender:
    sent: list[tuple[Outbound, int]] = field(default_factory=list)  # each delivery with the receiver's status
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._queue: queue.Queue[Outbound | threading.Event] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def send(self, outbound: Outbound) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._deliver, name="sandbox-webhooks", daemon=True)
                self._thread.start()
        self._queue.put(outbound)

    def flush(self, timeout: float = 10) -> None:
        """Wait until every webhook handed over so far was delivered (or failed)."""
        if self._thread is None:
            return
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def _deliver(self) -> None:
        with httpx.Client(timeout=10) as client:
            while True:
                item = self._queue.get()
                if isinstance(item, threading.Event):
                    item.set()
                    continue
                try:
                    response = client.post(item.url, content=item.body, headers=item.headers)
                    self.sent.append((item, response.status_code))
                except httpx.HTTPError as exc:
                    self.failures.append(f"{item.url}: {type(exc).__name__}")
