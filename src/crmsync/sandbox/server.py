"""Serve an ASGI app in a background thread (uvicorn): the sandboxes on loopback, and the service's /metrics."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import Literal

import uvicorn
from starlette.types import ASGIApp


@dataclass
class RunningServer:
    """A server started by `serve`; `stop()` shuts it down."""

    base_url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Start `app` on `host:port` (0 = a free port) and return once it accepts connections."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("sandboxes only listen on loopback")
    return start(app, host=host, port=port, name="sandbox")


def start(app: ASGIApp, *, host: str, port: int, name: str, lifespan: Literal["on", "off"] = "off") -> RunningServer:
    """Start `app` on `host:port` in a background thread; also the service's /metrics beside a worker."""
    # IPPROTO_TCP, not the default 0: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on sockets that say they
    # are TCP, and the connections accepted here take their protocol from this socket. With Nagle on, an answer
    # written as headers then body waited for the client's delayed ACK: 40 ms added to every request on Linux.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="error", lifespan=lifespan, access_log=False, timeout_keep_alive=30)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"{name}-{bound_port}")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{name} server on {host}:{bound_port} did not start")
        time.sleep(0.01)
    shown = f"[{host}]" if ":" in host else host
    return RunningServer(f"http://{shown}:{bound_port}", server, thread)
