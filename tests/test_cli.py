"""The `crmsync` command line against the served fake CRM, with a config written to tmp_path.

The CLI finds only the fake connector (fixture `fake_discovery`); the HubSpot-bound CLI tests (installed
distribution, HubSpot's mapping, `crmsync sandbox`) are in connectors/hubspot/tests/test_hubspot_cli.py.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import pytest
from support import TOKEN_VAR, Served, write_config
from typer.testing import CliRunner, Result

from crmsync.cli import cli
from crmsync.store import Store
from crmsync.testing.fake import MAPPING_PATH

pytestmark = pytest.mark.usefixtures("fake_discovery")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cli:
    def __init__(self, config: Path, token: str) -> None:
        self.config = config
        self.token = token
        self.runner = CliRunner()

    def __call__(self, *args: str, token: str | None = None) -> Result:
        env = {TOKEN_VAR: token or self.token, "COLUMNS": "250", "NO_COLOR": "1", "CRMSYNC_CONFIG": None}
        result = self.runner.invoke(cli, ["--config", str(self.config), *args], env=env)
        for stream in (result.stdout, result.stderr):
            assert self.token not in stream, "the secret never appears in the output"
        return result


@pytest.fixture
def run(served: Served, tmp_path: Path) -> Cli:
    return Cli(write_config(tmp_path, served.base_url), served.box.token)


def store_of(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'state.db'}")


def test_connectors_lists_the_fake_with_its_version(run: Cli) -> None:
    result = run("connectors")
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stdout.splitlines() if " fake " in line)
    assert "crmsync" in line
    assert version("crmsync") in line
    assert "ok" in line


def test_check_reports_ok(run: Cli) -> None:
    result = run("check")
    assert result.exit_code == 0, result.output
    assert "✓ fake: reached the CRM" in result.stdout
    assert "unmapped stage" not in result.stdout


def with_mapping(served: Served, tmp_path: Path, edit: Callable[[str], str]) -> Cli:
    """The CLI on a copy of the fake mapping changed by `edit` (which must change it)."""
    text = MAPPING_PATH.read_text()
    changed = edit(text)
    assert changed != text
    mapping = tmp_path / "fake.toml"
    mapping.write_text(changed)
    return Cli(write_config(tmp_path, served.base_url, mapping=mapping), served.box.token)


def test_check_lists_unmapped_stages(served: Served, tmp_path: Path) -> None:
    run = with_mapping(
        served, tmp_path, lambda t: re.sub(r'\[\[stages\]\]\npipeline = "Sales"\nstage = "Negotiation"\n[^\[]*', "", t)
    )

    result = run("check")

    assert result.exit_code == 0, result.output
    assert "unmapped stage: Sales / Negotiation (negotiation)" in result.stdout


def test_sync_then_history_ledger_and_rollback(run: Cli, served: Served, tmp_path: Path) -> None:
    before = served.remote()

    synced = run("sync")

    assert synced.exit_code == 0, synced.output
    assert "Sync results" in synced.stdout
    assert served.remote() != before
    store = store_of(tmp_path)
    [sync_run] = store.runs("fake")
    assert sync_run["written"] == len(before)
    run_id = str(sync_run["id"])

    history = run("history")
    assert history.exit_code == 0, history.output
    assert re.search(rf"│ {run_id}\s+│ fake\s+│ sync\s+│ apply\s+│ ok", history.stdout)

    ledger = run("ledger", run_id)
    assert ledger.exit_code == 0, ledger.output
    some_deal = next(iter(before))
    assert re.search(rf"{some_deal}\s+│ category\s+│ ∅\s+│ \w+\s+│ written", ledger.stdout)
    assert run("ledger", "999").exit_code == 1

    undone = run("rollback", run_id, "--yes")
    assert undone.exit_code == 0, undone.output
    assert f"{len(before)} deal(s) restored" in undone.stdout
    assert served.remote() == before
    kinds = [r["kind"] for r in store.runs("fake")]
    assert kinds == ["rollback", "sync"]
    store.close()


def test_sync_dry_run_prints_the_plan_and_writes_nothing(run: Cli, served: Served, tmp_path: Path) -> None:
    result = run("sync", "--dry-run")

    assert result.exit_code == 0, result.output
    assert "(dry run: nothing written)" in result.stdout
    assert re.search(r"\(\d+\)\s+│ category\s+│ ∅\s+│ \w+\s+│ planned", result.stdout)
    assert served.box.requests["write"] == 0
    store = store_of(tmp_path)
    [dry] = store.runs("fake")
    assert dry["mode"] == "dry-run"
    store.close()
    deals = len(served.box.deal_ids())
    assert f"Plan of fake (run {dry['id']}): {deals} deal(s) to write" in result.stdout

    refused = run("rollback", str(dry["id"]), "--yes")  # a dry run wrote nothing: no empty rollback run
    assert refused.exit_code == 1 and "a dry run, which wrote nothing" in refused.stderr
    assert len(store_of(tmp_path).runs("fake")) == 1


def test_json_output_of_sync_plan_history_ledger_and_rollback_preview(run: Cli, served: Served) -> None:
    deals = len(served.box.deal_ids())
    plan = json.loads(run("sync", "--dry-run", "--format", "json").stdout)
    [dry] = plan["runs"]
    assert (dry["connection"], dry["status"], dry["mode"], dry["written"]) == ("fake", "ok", "dry-run", 0)
    [p] = plan["plans"]
    assert p["summary"]["deals_to_write"] == deals == sum(c["deals"] for c in p["summary"]["by_category"].values())
    some = p["rows"][0]
    assert some["deal"] and some["outcome"] == "planned" and some["new_value"]

    synced = run("sync", "--format", "json")
    assert synced.exit_code == 0, synced.output
    [real] = json.loads(synced.stdout)["runs"]
    assert real["written"] == deals and real["fetched"] == deals and real["requests"] > 0
    assert sum(real["written_by_category"].values()) == deals

    runs = json.loads(run("history", "--format", "json").stdout)["runs"]
    assert [(r["id"], r["mode"]) for r in runs] == [(real["run_id"], "apply"), (dry["run_id"], "dry-run")]

    ledger = json.loads(run("ledger", str(real["run_id"]), "-f", "json").stdout)
    assert ledger["run"]["id"] == real["run_id"]
    assert {row["outcome"] for row in ledger["rows"]} == {"written"}
    assert all(row["deal"] for row in ledger["rows"])

    before = served.remote()
    preview = run("rollback", str(real["run_id"]), "--dry-run")
    assert preview.exit_code == 0, preview.output
    assert "field(s) to restore" in preview.stdout
    assert served.remote() == before and len(json.loads(run("history", "-f", "json").stdout)["runs"]) == 2
    assert run("history", "--format", "yaml").exit_code == 2


@pytest.mark.parametrize(
    ("extra", "key"),
    [('schedule = "99 * * * *"\n', "connections.fake.schedule"), ("colour = 1\n", "connections.fake.colour")],
)
def test_broken_config_exits_2_naming_file_and_key(served: Served, tmp_path: Path, extra: str, key: str) -> None:
    config = write_config(tmp_path, served.base_url, extra=extra)
    result = Cli(config, served.box.token)("sync")
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert str(config) in message
    assert f"key '{key}'" in message
    assert served.box.listing_requests() == 0, "nothing is fetched with a broken config"


def test_missing_config_exits_2(tmp_path: Path) -> None:
    result = Cli(tmp_path / "absent.toml", "unused-secret")("history")
    assert result.exit_code == 2
    assert "file not found" in result.stderr


def test_wrong_credentials_exit_3(run: Cli) -> None:
    result = run("sync", token="pat-eu1-wrong-token-1234")
    assert result.exit_code == 3
    assert "401" in result.stderr
    assert "pat-eu1-wrong-token-1234" not in result.stdout + result.stderr
    assert run("check", token="pat-eu1-wrong-token-1234").exit_code == 3


def test_unreachable_host_exits_3(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"http://127.0.0.1:{closed_port()}")
    run = Cli(config, "pat-eu1-unreachable-5678")
    result = run("sync")
    assert result.exit_code == 3
    assert "cannot reach the CRM" in " ".join(result.stderr.split())


def test_log_format_json_emits_json_lines(run: Cli) -> None:
    result = run.runner.invoke(
        cli,
        ["--log-format", "json", "--log-level", "debug", "--config", str(run.config), "sync"],
        env={TOKEN_VAR: run.token, "COLUMNS": "250"},
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("{")]
    assert lines
    entries = [json.loads(line) for line in lines]
    assert all({"time", "level", "logger", "message"} <= set(entry) for entry in entries)
    assert any(entry["logger"] == "crmsync.http" and entry.get("connection") == "fake" for entry in entries)
    assert run.token not in result.stdout + result.stderr


def test_info_logs_one_structured_record_per_run(run: Cli, served: Served) -> None:
    result = run.runner.invoke(
        cli,
        ["--log-format", "json", "--log-level", "info", "--config", str(run.config), "sync"],
        env={TOKEN_VAR: run.token, "COLUMNS": "250"},
    )
    assert result.exit_code == 0, result.output
    entries = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    [record] = [e for e in entries if e.get("event") == "run.finished"]
    deals = len(served.box.deal_ids())
    assert (record["connection"], record["status"], record["mode"]) == ("fake", "ok", "apply")
    assert record["fetched"] == record["written"] == deals
    assert record["requests"] > 0 and record["duration_s"] >= 0 and record["run_id"] == 1
    assert f"written {deals}" in record["message"]
    [listed] = [e for e in entries if e.get("event") == "run.listed"]
    [wrote] = [e for e in entries if e.get("event") == "run.written"]
    assert (listed["run_id"], listed["fetched"], listed["stored"], listed["planned"]) == (1, deals, deals, deals)
    assert (wrote["run_id"], wrote["written"], wrote["failed"]) == (1, deals, 0)
    assert 0 < listed["requests"] < wrote["requests"] == record["requests"]
    order = [e.get("event") for e in entries if str(e.get("event", "")).startswith("run.")]
    assert order == ["run.listed", "run.plan", "run.written", "run.finished"]


def test_bad_log_format_exits_2(run: Cli) -> None:
    assert run("--log-format", "xml", "history").exit_code == 2


def test_sigterm_stops_a_sync_cleanly_and_frees_its_lock(served: Served, tmp_path: Path) -> None:
    """A cron job killed with SIGTERM must not leave the connection locked for the next run."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from sqlalchemy import select

    from crmsync.store.schema import locks

    config = write_config(tmp_path, served.base_url)
    served.box.faults.latency = 0.3  # every request is slow, so the sync is still running when the signal comes
    env = {**os.environ, TOKEN_VAR: served.box.token}
    proc = subprocess.Popen(
        [sys.executable, "-m", "crmsync.testing.fake_cli", "--config", str(config), "sync"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 60
    while not _has_lock_row(tmp_path / "state.db"):  # read-only peek: the subprocess owns the schema
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the sync never took its lock"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "interrupted" in err
    assert served.box.token not in out + err
    store = store_of(tmp_path)
    with store.engine.connect() as conn:
        assert conn.execute(select(locks.c.name)).first() is None, "the run lock was released"
    [run] = store.runs("fake")
    assert run["status"] == "failed"
    served.box.faults.latency = 0
    again = Cli(config, served.box.token)("sync")
    assert again.exit_code == 0, again.output


def _has_lock_row(path: Path) -> bool:
    import sqlite3

    if not path.exists():
        return False
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT count(*) FROM locks").fetchone()[0] > 0
    except sqlite3.OperationalError:  # the schema is still being created
        return False


def test_ledger_tables_show_crm_text_literally() -> None:
    """A CRM message that looks like rich markup is printed as it is, not interpreted (or crashed on)."""
    from rich.console import Console

    from crmsync.cli import ledger_table

    row = {
        "source_id": "7",
        "field": "category",
        "old_value": "[red]x",
        "new_value": None,
        "outcome": "failed",
        "reason": "VALIDATION_ERROR: [/bad] markup",
    }
    console = Console(record=True, width=200, color_system=None)
    console.print(ledger_table([row], "Ledger"))
    text = console.export_text()
    assert "VALIDATION_ERROR: [/bad] markup" in text
    assert "[red]x" in text


def test_version_prints_the_installed_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"crmsync {version('crmsync')}"


def test_store_only_commands_need_no_crm_secret(run: Cli, tmp_path: Path) -> None:
    assert run("sync").exit_code == 0
    env = {TOKEN_VAR: None, "COLUMNS": "250", "NO_COLOR": "1", "CRMSYNC_CONFIG": None}
    runner = CliRunner()

    def unset(*args: str) -> Result:
        return runner.invoke(cli, ["--config", str(run.config), *args], env=env)

    for args in (("report", "--format", "json"), ("history",), ("ledger", "1")):
        result = unset(*args)
        assert result.exit_code == 0, (args, result.output)
    assert [r["connection"] for r in json.loads(unset("report", "--format", "json").stdout)["runs"]] == ["fake"]
    needs = unset("sync")  # a command that talks to the CRM still names the missing variable
    assert needs.exit_code == 2
    assert TOKEN_VAR in needs.stderr and "connections.fake.settings.token" in needs.stderr


def test_sync_runs_checks_first_and_a_stage_the_crm_lacks_stops_it_with_exit_2(served: Served, tmp_path: Path) -> None:
    run = with_mapping(served, tmp_path, lambda t: t.replace('stage = "Negotiation"', 'stage = "Negotation"'))

    result = run("sync")

    assert result.exit_code == 2, result.output
    assert "stages[3].stage 'Negotation' does not exist in pipeline 'Sales' in fake" in result.output
    assert served.box.requests["list"] == 0, "nothing is fetched before the mapping fits"
    assert "Negotation" in run("check").stdout
