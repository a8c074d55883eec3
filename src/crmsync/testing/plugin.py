"""pytest plugin (entry point `pytest11`): fixtures for testing crmsync and its connectors.

connector_class   the connector under test: the in-core FakeConnector unless a conftest overrides it
sandbox_deals     deals to seed (40); override to change
sandbox           its sandbox, seeded and served on loopback; `sandbox.base_url` is where
mapping           its mapping (mappings/<name>.toml under the rootdir; the fake's own for the fake)
connector         a connector built for `sandbox`, closed after the test; `connector_factory(**settings)` for more
store             a fresh state store: SQLite, and PostgreSQL too when CRMSYNC_TEST_POSTGRES_URL is set
sqlite_store      a fresh SQLite store only (crmsync_store: the same, under its old name)
fast_limits       rate limiters and retry backoffs that never wait; counts what would have waited
fake_discovery    the CLI and `App` find only the fake connector (installed plugins do not leak in)
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from crmsync import http, registry
from crmsync.connector import Connector
from crmsync.mapping import Mapping, load_mapping
from crmsync.sandbox import Sandbox, serve
from crmsync.store import Store
from crmsync.store import schema as t
from crmsync.testing.fake import FakeConnector, fake_discovery, fake_mapping

POSTGRES_ENV = "CRMSYNC_TEST_POSTGRES_URL"


def _respx_sees_the_wire() -> None:
    """respx intercepts httpcore's pools; API clients send through `crmsync.wire.WirePool`, which speaks the same
    interface, so respx is told to intercept it too (a respx-mocked test never reaches the network)."""
    try:
        from respx.mocks import HTTPCoreMocker
    except ImportError:  # respx is a test tool: a connector's tests may not use it
        return
    HTTPCoreMocker.add_targets("crmsync.wire.WirePool")


_respx_sees_the_wire()


@pytest.fixture
def connector_class() -> type[Connector]:
    """The connector the fixtures build; override in a conftest to test another one."""
    return FakeConnector


@pytest.fixture
def sandbox_deals() -> int:
    return 40


@pytest.fixture
def sandbox(connector_class: type[Connector], sandbox_deals: int) -> Iterator[Sandbox]:
    """The connector's sandbox (seed 11), served on loopback for the test; `.base_url` is set."""
    box = connector_class.sandbox(deals=sandbox_deals, seed=11)
    if box is None:
        raise pytest.UsageError(f"{connector_class.__name__} has no sandbox")
    with serve(box.app()) as server:
        box.base_url = server.base_url  # type: ignore[attr-defined]
        yield box


@pytest.fixture
def mapping(connector_class: type[Connector], pytestconfig: pytest.Config) -> Mapping:
    if issubclass(connector_class, FakeConnector):
        return fake_mapping()
    return load_mapping(pytestconfig.rootpath / "mappings" / f"{connector_class.name}.toml")


ConnectorFactory = Callable[..., Connector]


@pytest.fixture
async def connector_factory(
    connector_class: type[Connector], sandbox: Sandbox, mapping: Mapping
) -> AsyncIterator[ConnectorFactory]:
    """Builds connectors for `sandbox` (settings overridable by keyword); all are closed after the test."""
    made: list[Connector] = []

    def build(**overrides: Any) -> Connector:
        settings = {**sandbox.settings(sandbox.base_url), **overrides}  # type: ignore[attr-defined]
        connector = connector_class(connector_class.name, connector_class.Settings.model_validate(settings), mapping)
        if connector.client is not None:
            connector.client.backoff = 0.01
        made.append(connector)
        return connector

    yield build
    for connector in made:
        await connector.aclose()


@pytest.fixture
def connector(connector_factory: ConnectorFactory) -> Connector:
    return connector_factory()


def drop_everything(url: str) -> None:
    """Drop crmsync's tables (and its schema revision) from the database at `url`: a scratch database only."""
    engine = create_engine(url)
    with engine.begin() as conn:
        t.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgresql",
            marks=pytest.mark.skipif(
                not os.environ.get(POSTGRES_ENV), reason=f"set {POSTGRES_ENV} to run on PostgreSQL"
            ),
        ),
    ]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh store on each database; the PostgreSQL database is emptied before and after."""
    url = f"sqlite:///{tmp_path / 'state.db'}" if request.param == "sqlite" else os.environ[POSTGRES_ENV]
    if request.param == "postgresql":
        drop_everything(url)
    opened = Store(url)
    yield opened
    opened.close()
    if request.param == "postgresql":
        drop_everything(url)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(f"sqlite:///{tmp_path / 'state.db'}")
    yield opened
    opened.close()


@pytest.fixture
def crmsync_store(tmp_path: Path) -> Iterator[Store]:
    """A fresh SQLite state store in a temporary directory."""
    opened = Store(f"sqlite:///{tmp_path / 'crmsync.db'}")
    yield opened
    opened.close()


@pytest.fixture
def fast_limits(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every RateLimiter and retry backoff returns at once. The counter says how often one was asked to wait:
    'acquired' (limiter slots taken), 'paused' (the CRM said slow down), 'backoff' (waits between retries)."""
    waits: Counter[str] = Counter()

    async def acquire(self: http.RateLimiter) -> None:
        waits["acquired"] += 1

    def pause(self: http.RateLimiter, seconds: float) -> None:
        waits["paused"] += 1

    def no_wait(self: http.ApiClient, state: Any) -> float:
        waits["backoff"] += 1
        return 0.0

    monkeypatch.setattr(http.RateLimiter, "acquire", acquire)
    monkeypatch.setattr(http.RateLimiter, "pause", pause)
    monkeypatch.setattr(http.ApiClient, "_wait", no_wait)
    return waits


@pytest.fixture(name="fake_discovery")
def _fake_discovery(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "discover", fake_discovery)
    from crmsync import cli

    monkeypatch.setattr(cli, "discover", fake_discovery)
