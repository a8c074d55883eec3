"""A connection with `writeback = "dry-run"` is in every report figure, marked as a dry run (issue 13).

A dry run keeps no snapshot, so the report reads what the dry run evaluated (`dry_run_deals`) until an applying
run of the connection is newer. Against the served fake CRM, through the command line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support import TOKEN_VAR, Served, write_config
from typer.testing import CliRunner

from crmsync.cli import cli
from crmsync.store import Store

pytestmark = pytest.mark.usefixtures("fake_discovery")


def dry_or_apply(tmp_path: Path, base_url: str, writeback: str) -> Path:
    return write_config(tmp_path, base_url, extra=f'writeback = "{writeback}"\n')


def crmsync(config: Path, token: str, *args: str) -> str:
    env = {TOKEN_VAR: token, "COLUMNS": "250", "NO_COLOR": "1", "CRMSYNC_CONFIG": None}
    result = CliRunner().invoke(cli, ["--config", str(config), *args], env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def report(config: Path, token: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(crmsync(config, token, "report", "--format", "json"))
    return data


def test_a_dry_run_connection_is_in_the_report_and_marked(served: Served, tmp_path: Path) -> None:
    config = dry_or_apply(tmp_path, served.base_url, "dry-run")
    deals = len(served.box.deal_ids())
    assert deals > 1
    crmsync(config, served.box.token, "sync")
    assert served.box.requests["write"] == 0

    dry = report(config, served.box.token)

    assert sum(c["count"] for c in dry["categories"]) == deals, "every deal the dry run read is counted"
    assert [run["mode"] for run in dry["runs"]] == ["dry-run"]
    assert any(w.startswith(f"fake: dry run — {deals} deals as the latest dry run") for w in dry["warnings"])
    terminal = crmsync(config, served.box.token, "report")
    assert "(ok, dry run)" in terminal
    html = crmsync(config, served.box.token, "report", "--format", "html")
    assert "dry run" in html

    config = dry_or_apply(tmp_path, served.base_url, "apply")  # the same connection, now writing back
    crmsync(config, served.box.token, "sync")
    applied = report(config, served.box.token)

    assert sum(c["count"] for c in applied["categories"]) == deals
    assert [run["mode"] for run in applied["runs"]] == ["apply"]
    assert not any("dry run" in w for w in applied["warnings"]), "an applying run supersedes the dry run"
    assert dry["categories"] == applied["categories"], "the dry run evaluated what the real run wrote"


def test_a_dry_run_after_a_real_run_shows_what_it_read(served: Served, tmp_path: Path) -> None:
    """The snapshot stays as the real run left it; the report shows the dry run's view, marked."""
    token = served.box.token
    crmsync(dry_or_apply(tmp_path, served.base_url, "apply"), token, "sync")
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    snapshot = store.count_deals("fake")
    store.close()

    config = dry_or_apply(tmp_path, served.base_url, "dry-run")
    crmsync(config, token, "sync", "--full")
    dry = report(config, token)

    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    assert store.count_deals("fake") == snapshot
    store.close()
    assert sum(c["count"] for c in dry["categories"]) == snapshot
    assert any(w.startswith("fake: dry run") for w in dry["warnings"])
