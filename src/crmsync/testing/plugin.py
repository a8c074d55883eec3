"""pytest plugin (entry point `pytest11`): fixtures shared by connector test suites."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crmsync.store import Store


@pytest.fixture
def crmsync_store(tmp_path: Path) -> Iterator[Store]:
    """A fresh SQLite state store in a temporary directory."""
    store = Store(f"sqlite:///{tmp_path / 'crmsync.db'}")
    yield store
    store.close()
