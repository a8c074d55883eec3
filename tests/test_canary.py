"""A canary secret, echoed back by a gateway in every refused write, reaches no log line, no table of the store,
no `crmsync ledger` table, no report and no exception text."""

from __future__ import annotations

import io
import logging
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, select

from crmsync import redact
from crmsync.config import Config
from crmsync.render import ledger_table
from crmsync.report import build_report, to_html, to_json
from crmsync.sandbox import serve
from crmsync.store import Store
from crmsync.sync import SyncEngine
from crmsync.testing.fake import FakeConnector, FakeSettings, fake_mapping
from crmsync.testing.fake_crm import FakeCrm
from crmsync.textsafe import SafeConsole

CANARY = "canary-tok-4f9d0c2a7b8e6153"


async def test_a_token_echoed_by_a_gateway_leaks_nowhere(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    crm = FakeCrm(deals=12, seed=4, token=CANARY)
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    caplog.set_level(logging.DEBUG)
    with serve(crm.app()) as server:
        settings = FakeSettings(**{**crm.settings(server.base_url), "max_retries": 0})
        redact.register_model(settings)  # as the registry does for every connection
        connector = FakeConnector("fake", settings, fake_mapping())
        original = connector.write

        async def echoed(updates: Any) -> Any:
            crm.faults.script = ["echo"] * len(updates)  # the gateway refuses every write, echoing the headers
            return await original(updates)

        connector.write = echoed  # type: ignore[method-assign]
        async with connector:
            result = await SyncEngine(store, connector, today=date(2026, 6, 1)).run()
    assert result.failed > 0 and result.written == 0, "every write met the echoing gateway"

    texts = [caplog.text]
    metadata = MetaData()
    metadata.reflect(store.engine)
    with store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            texts += [repr(tuple(row)) for row in conn.execute(select(table))]
    rows = store.ledger(result.run_id)
    assert any("refused" in (row["reason"] or "") for row in rows), "the gateway's bodies were stored as reasons"
    screen = io.StringIO()
    SafeConsole(file=screen, width=300).print(ledger_table(rows, "ledger"))
    report = build_report(store, Config(), today=date(2026, 6, 1))
    texts += [screen.getvalue(), to_json(report), to_html(report)]
    store.close()
    for text in texts:
        assert CANARY not in text and CANARY[:12] not in text
