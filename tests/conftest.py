"""Fixtures of the core test suite: the fake CRM served on loopback and its mapping. Stores (`store`,
`sqlite_store`), `mapping`, `sandbox`, `connector` and `fast_limits` come from the crmsync.testing plugin.

Everything runs on loopback; no test reaches a host outside this machine, and no bundled connector is imported.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import Served

from crmsync.mapping import Mapping, load_mapping
from crmsync.sandbox import serve
from crmsync.testing.fake_crm import FakeCrm

HUBSPOT_MAPPING = Path(__file__).resolve().parents[1] / "mappings" / "hubspot.toml"


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
    """mappings/hubspot.toml as data: a rich real-world mapping for the pure rules and plan tests."""
    return load_mapping(HUBSPOT_MAPPING)


@pytest.fixture
def served() -> Iterator[Served]:
    box = FakeCrm(deals=40, seed=11)
    with serve(box.app()) as server:
        yield Served(box, server.base_url)
