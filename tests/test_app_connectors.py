"""One connector instance per connection per command, and every one of them closed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, ClassVar

from two_phase_fake import FakeConnector, FakeCrm

from crmsync.app import App
from crmsync.config import load_config
from crmsync.registry import Registry

MAPPING = """
connector = "fake"
[[stages]]
pipeline = "p"
stage = "lead"
category = "pipeline"
probability = 0.2
[[stages]]
pipeline = "p"
stage = "offer"
category = "commit"
probability = 0.9
[writeback]
category_field = "forecast"
probability_field = "chance"
[writeback.category_values]
pipeline = "Pipeline"
best_case = "Best case"
commit = "Commit"
closed = "Closed"
omitted = "Omitted"
"""


class Counted(FakeConnector):
    built: ClassVar[list[str]] = []
    closed: ClassVar[list[str]] = []

    def __init__(self, connection: str, settings: Any, mapping: Any) -> None:
        super().__init__(FakeCrm.seeded(4), mapping, connection)
        self.built.append(connection)

    async def aclose(self) -> None:
        self.closed.append(self.connection)


def make_app(tmp_path: Path) -> App:
    (tmp_path / "fake.toml").write_text(MAPPING, encoding="utf-8")
    connections = "".join(
        f"""
[connections.{name}]
connector = "fake"
mapping = "{tmp_path / "fake.toml"}"
[connections.{name}.settings]
base_url = "http://127.0.0.1:9"
"""
        for name in ("alpha", "beta")
    )
    path = tmp_path / "crmsync.toml"
    path.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "state.db"}"\n{connections}', encoding="utf-8")
    Counted.built.clear()
    Counted.closed.clear()
    return App(load_config(path), Registry({"fake": Counted}))


def test_a_sync_command_builds_each_connector_once_and_closes_it(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    names = app.names()
    app.validate(names)  # as `crmsync sync` does before its progress bar
    outcomes = asyncio.run(app.sync(names))
    app.close()

    assert [o.result.status for o in outcomes if o.result] == ["ok", "ok"]
    assert sorted(Counted.built) == ["alpha", "beta"]
    assert sorted(Counted.closed) == ["alpha", "beta"]


def test_connectors_validated_but_never_used_are_closed_with_the_app(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    app.validate(app.names())
    app.close()
    assert sorted(Counted.built) == sorted(Counted.closed) == ["alpha", "beta"]


def test_each_scheduled_sync_builds_fresh_connectors(tmp_path: Path) -> None:
    """A long-running scheduler validates without keeping; every sync then builds (and closes) its own."""
    app = make_app(tmp_path)
    app.validate(app.names(), keep=False)
    asyncio.run(app.sync(["alpha"]))
    asyncio.run(app.sync(["alpha"]))
    app.close()
    assert Counted.built == ["alpha", "beta", "alpha", "alpha"]
    assert Counted.closed == ["alpha", "alpha"]
