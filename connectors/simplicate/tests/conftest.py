from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import respx
from simplicate_support import BASE, KEY, ROOT, SECRET

from crmsync.mapping import Mapping, load_mapping
from crmsync_simplicate.connector import SimplicateConnector, SimplicateSettings


@pytest.fixture
def mapping() -> Mapping:
    return load_mapping(ROOT / "mappings" / "simplicate.toml")


@pytest.fixture
async def connector(mapping: Mapping) -> AsyncIterator[SimplicateConnector]:
    settings = SimplicateSettings(base_url=BASE, api_key=KEY, api_secret=SECRET, max_retries=3)
    made = SimplicateConnector("acme", settings, mapping)
    made.client.backoff = 0.01
    yield made
    await made.aclose()


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        yield mock
