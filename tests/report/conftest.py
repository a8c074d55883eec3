"""Fixtures of the report tests: the hand-built dataset of report_dataset.py in a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from report.report_dataset import fill, make_config

from crmsync.config import Config
from crmsync.store import Store


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path: Path = tmp_path_factory.mktemp("report") / "state.db"
    st = Store(f"sqlite:///{path}")
    fill(st)
    yield st
    st.close()


@pytest.fixture
def config() -> Config:
    return make_config()
