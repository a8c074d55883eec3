"""The loopback server the sandboxes (and the service's /metrics) run on."""

from __future__ import annotations

import socket

import httpx
import pytest
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from crmsync.sandbox import serve


async def _hello(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse("hello")(scope, receive, send)


def test_accepted_connections_send_without_nagles_delay() -> None:
    # With Nagle's algorithm on, an answer written as headers then body waits for the client's delayed ACK: 40 ms
    # more for every request, which made loopback runs measure the sandbox's socket instead of the API.
    with serve(_hello) as running, httpx.Client(base_url=running.base_url) as client:
        assert client.get("/").text == "hello"
        connections = list(running.server.server_state.connections)  # the client keeps its connection open
        assert connections
        for protocol in connections:
            sock = protocol.transport.get_extra_info("socket")  # type: ignore[attr-defined]
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_only_loopback_is_served() -> None:
    with pytest.raises(ValueError, match="loopback"):
        serve(_hello, host="0.0.0.0")
