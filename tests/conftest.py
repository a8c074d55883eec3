"""Fixtures shared by the core test suite: the HubSpot mapping, a served HubSpot sandbox, SQLite stores.

Everything runs on loopback; no test reaches a host outside this machine.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from support import Served

from crmsync.mapping import Mapping, load_mapping
from crmsync.sandbox import serve
from crmsync.store import Store
from crmsync.store import schema as t
from crmsync_hubspot.sandbox import HubSpotSandbox

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_URL = os.environ.get("CRMSYNC_TEST_POSTGRES_URL")


def _drop_everything(url: str) -> None:
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
                not POSTGRES_URL, reason="set CRMSYNC_TEST_POSTGRES_URL to run the store tests against PostgreSQL"
            ),
        ),
    ]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        assert POSTGRES_URL is not None
        url = POSTGRES_URL
        _drop_everything(url)
    store = Store(url)
    yield store
    store.close()
    if request.param == "postgresql":
        _drop_everything(url)


HUBSPOT_MAPPING = ROOT / "mappings" / "hubspot.toml"


@pytest.fixture(autouse=True)
def _reset_crmsync_logging() -> Iterator[None]:
    """`crmsync.logs.configure` (run by every CLI call) stops propagation; undo it so caplog keeps working."""
    logger = logging.getLogger("crmsync")
    handlers, level, propagate = logger.handlers[:], logger.level, logger.propagate
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)
    logger.propagate = propagate


@pytest.fixture
def hubspot_mapping() -> Mapping:
    return load_mapping(HUBSPOT_MAPPING)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    yield store
    store.close()


@pytest.fixture
def served() -> Iterator[Served]:
    box = HubSpotSandbox(deals=40, seed=11)
    with serve(box.app()) as server:
        yield Served(box, server.base_url)
