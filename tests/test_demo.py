"""`crmsync demo`, the README's first command, end to end: every bundled sandbox on loopback, a fresh SQLite store."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from crmsync.cli import cli
from crmsync.store import Store


def test_the_demo_syncs_every_sandbox_reacts_to_webhooks_and_writes_its_reports(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "--deals", "20", "--dir", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    for name in ("hubspot", "pipedrive", "simplicate", "afas"):
        assert f"sandbox {name} on http://127.0.0.1:" in out
    assert "the hand-set categories are respected" in out
    assert "(trigger webhook, incremental) ok" in out
    assert "Files written:" in out
    for file in ("report.html", "crmsync.toml", "crmsync.db"):
        assert (tmp_path / file).exists(), file

    store = Store(f"sqlite:///{tmp_path / 'crmsync.db'}")
    try:
        for connection in ("hubspot-demo", "pipedrive-demo"):
            runs = store.runs(connection, 10)
            assert [r["trigger"] for r in runs if r["trigger"] == "webhook"], connection
            assert all(r["status"] == "ok" for r in runs)
        assert all(r["status"] == "ok" for r in store.runs(None, 50))
    finally:
        store.close()
