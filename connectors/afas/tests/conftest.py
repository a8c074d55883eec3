from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from crmsync.mapping import Mapping, load_mapping
from crmsync.sandbox.server import RunningServer, serve
from crmsync_afas.sandbox import AfasSandbox


@pytest.fixture
def sandbox() -> AfasSandbox:
    return AfasSandbox(deals=30, seed=7)


@pytest.fixture
def server(sandbox: AfasSandbox) -> Iterator[RunningServer]:
    with serve(sandbox.app()) as running:
        yield running


def auth_header(token_xml: str) -> dict[str, str]:
    return {"Authorization": "AfasToken " + base64.b64encode(token_xml.encode()).decode()}


@pytest.fixture
def http(server: RunningServer, sandbox: AfasSandbox) -> Iterator[httpx.Client]:
    settings: dict[str, Any] = sandbox.settings(server.base_url)
    with httpx.Client(base_url=settings["base_url"], headers=auth_header(settings["token"])) as client:
        yield client


@pytest.fixture
def mapping() -> Mapping:
    return load_mapping(Path(__file__).resolve().parents[3] / "mappings" / "afas.toml")
