from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crmsync.mapping import Mapping, load_mapping
from crmsync.sandbox import serve
from crmsync_hubspot.sandbox import HubSpotSandbox

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def mapping() -> Mapping:
    return load_mapping(ROOT / "mappings" / "hubspot.toml")


@pytest.fixture
def served() -> Iterator[tuple[HubSpotSandbox, str]]:
    box = HubSpotSandbox(deals=30, seed=3)
    with serve(box.app()) as server:
        yield box, server.base_url
