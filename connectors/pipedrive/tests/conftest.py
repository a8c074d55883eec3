from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crmsync.mapping import Mapping, load_mapping
from crmsync.sandbox import serve
from crmsync_pipedrive.sandbox import PipedriveSandbox

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def mapping() -> Mapping:
    return load_mapping(ROOT / "mappings" / "pipedrive.toml")


@pytest.fixture
def sandbox() -> PipedriveSandbox:
    return PipedriveSandbox(deals=30, seed=3)


@pytest.fixture
def base_url(sandbox: PipedriveSandbox) -> Iterator[str]:
    with serve(sandbox.app()) as server:
        yield server.base_url
