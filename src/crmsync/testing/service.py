"""Helpers for tests of `crmsync serve`: run its app on loopback with a recording trigger, and wait for effects."""

from __future__ import annotations

import time
from collections.abc import Callable

from crmsync.app import App
from crmsync.sandbox.server import RunningServer, start
from crmsync.service.serve import Trigger, build


class Recorder:
    """A trigger that records which connection's sync would start, and when (monotonic seconds)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []

    async def __call__(self, connection: str) -> None:
        self.calls.append((connection, time.monotonic()))


def serving(app: App, trigger: Trigger | None = None) -> RunningServer:
    """`crmsync serve`'s app for `app` on a free loopback port (with `trigger` instead of the real one)."""
    asgi, _ = build(app, trigger)
    return start(asgi, host="127.0.0.1", port=0, name="serve", lifespan="on")


def wait_for(predicate: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)
