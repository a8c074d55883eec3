"""The operations surface: /metrics moving after a sync, /healthz and /readyz, `crmsync status`, `sync --enqueue`
without a queue, the debouncer, and `crmsync run --http-port` serving the same endpoints beside the scheduler."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from support import TOKEN_VAR, Served, write_config
from typer.testing import CliRunner, Result

from crmsync.app import App
from crmsync.cli import cli
from crmsync.config import load_config
from crmsync.sandbox.server import start
from crmsync.service.metrics import ops_routes
from crmsync.service.serve import Debouncer
from crmsync.service.status import status

pytestmark = pytest.mark.usefixtures("fake_discovery")


def metric(text: str, name: str, **labels: str) -> float | None:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{re.escape(name)}{re.escape('{' + wanted + '}') if wanted else ''} (\S+)$"
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else None


def invoke(config: Path, token: str, *args: str) -> Result:
    env = {TOKEN_VAR: token, "COLUMNS": "250", "NO_COLOR": "1", "CRMSYNC_CONFIG": None}
    return CliRunner().invoke(cli, ["--config", str(config), *args], env=env)


def test_metrics_move_after_a_sync_and_health_answers(served: Served, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(TOKEN_VAR, served.box.token)
    path = write_config(tmp_path, served.base_url)
    path.write_text(path.read_text().replace("max_retries = 0", "max_retries = 2"))
    app = App(load_config(path))
    ops = start(Starlette(routes=ops_routes(app.store, app.names())), host="127.0.0.1", port=0, name="ops")
    with ops:
        before = httpx.get(f"{ops.base_url}/metrics")
        assert before.status_code == 200
        assert before.headers["content-type"].startswith("text/plain")
        assert metric(before.text, "crmsync_store_up") == 1
        assert metric(before.text, "crmsync_runs_total", connection="fake", status="ok") is None
        assert metric(before.text, "crmsync_deals_fetched_total", connection="fake") == 0

        served.box.faults.script = ["429"]  # one throttled answer, retried
        outcome = asyncio.run(app.sync(["fake"]))[0]
        assert outcome.result is not None and outcome.result.written > 0

        after = httpx.get(f"{ops.base_url}/metrics").text
        assert metric(after, "crmsync_runs_total", connection="fake", status="ok") == 1
        assert metric(after, "crmsync_deals_fetched_total", connection="fake") == outcome.result.fetched
        assert metric(after, "crmsync_deals_written_total", connection="fake") == outcome.result.written
        assert metric(after, "crmsync_requests_total", connection="fake") == outcome.result.requests
        assert metric(after, "crmsync_throttled_total", connection="fake") == 1
        assert metric(after, "crmsync_running", connection="fake") == 0
        assert (metric(after, "crmsync_last_run_duration_seconds", connection="fake") or -1) > 0
        success = metric(after, "crmsync_last_success_timestamp_seconds", connection="fake")
        assert success is not None and abs(success - time.time()) < 60
        assert metric(after, "crmsync_queue_jobs", connection="fake", status="todo") is None  # SQLite: no queue

        assert httpx.get(f"{ops.base_url}/healthz").text == "ok"
        assert httpx.get(f"{ops.base_url}/readyz").json() == {"ready": True}
        app.store.engine.dispose()
        (tmp_path / "state.db").rename(tmp_path / "moved.db")
        (tmp_path / "state.db").mkdir()  # the store's file is now a folder: the database cannot be opened
        down = httpx.get(f"{ops.base_url}/metrics").text
        assert metric(down, "crmsync_store_up") == 0
        assert httpx.get(f"{ops.base_url}/readyz").status_code == 503
    app.close()


def test_status_json_names_last_run_next_run_lag_and_open_writes(served: Served, tmp_path: Path) -> None:
    config = write_config(tmp_path, served.base_url, extra='schedule = "30 2 * * *"\ntimezone = "Europe/Amsterdam"\n')
    never = json.loads(invoke(config, served.box.token, "status", "--format", "json").stdout)
    (row,) = never["connections"]
    assert never["engine"] == "embedded"
    assert row["last_run"] is None and row["lag_s"] is None and row["queue"] is None

    assert invoke(config, served.box.token, "sync").exit_code == 0
    result = invoke(config, "", "status", "--format", "json")  # status reads the store only: no secret needed
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    (row,) = document["connections"]
    assert row["connection"] == "fake" and row["connector"] == "fake"
    assert row["last_run"]["status"] == "ok"
    assert row["last_run"]["trigger"] == "manual"
    assert row["last_run"]["written"] > 0
    assert 0 <= row["lag_s"] < 60
    assert row["pending_writes"] == 0 and row["unknown_writes"] == 0
    next_run = datetime.fromisoformat(row["next_run"])
    assert next_run > datetime.now(UTC)
    assert next_run.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Amsterdam")).strftime("%H:%M") == "02:30"

    terminal = invoke(config, "", "status")
    assert terminal.exit_code == 0
    assert "fake" in terminal.stdout and "manual" in terminal.stdout


def test_status_counts_unknown_writes(served: Served, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(TOKEN_VAR, served.box.token)
    app = App(load_config(write_config(tmp_path, served.base_url)))
    # the reads pass; every write, and the read-back after them, loses its answer: the writes stay unknown
    served.box.faults.script = ["ok"] * 3 + ["drop"] * 500
    asyncio.run(app.sync(["fake"]))
    (row,) = status(app.config, app.store)["connections"]
    assert row["unknown_writes"] > 0
    app.close()


def test_sync_enqueue_needs_a_postgresql_store(served: Served, tmp_path: Path) -> None:
    config = write_config(tmp_path, served.base_url)
    result = invoke(config, served.box.token, "sync", "--enqueue")
    assert result.exit_code == 2
    assert "must be PostgreSQL" in result.stderr and "crmsync run" in result.stderr
    assert invoke(config, served.box.token, "sync", "--enqueue", "--dry-run").exit_code == 2


async def test_debouncer_folds_a_burst_and_follows_a_busy_sync_with_one_more() -> None:
    calls: list[str] = []
    release = asyncio.Event()

    async def trigger(connection: str) -> None:
        calls.append(connection)
        if len(calls) == 1:
            await release.wait()

    debouncer = Debouncer(0.05, trigger)
    for _ in range(5):
        debouncer.event("a")
    debouncer.event("b")
    await asyncio.sleep(0.15)
    assert sorted(calls) == ["a", "b"]
    for _ in range(3):  # events while a's sync still runs
        debouncer.event(calls[0])
    release.set()
    await asyncio.sleep(0.15)
    assert len(calls) == 3 and calls[2] == calls[0]
    await debouncer.aclose()


def test_run_serves_metrics_beside_the_embedded_scheduler(served: Served, tmp_path: Path) -> None:
    config = write_config(tmp_path, served.base_url, extra='schedule = "* * * * * */2"\n')
    with __import__("socket").socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "crmsync.testing.fake_cli", "--config", str(config), "run", "--http-port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**__import__("os").environ, TOKEN_VAR: served.box.token},
    )
    try:
        deadline, text = time.monotonic() + 30, ""
        while time.monotonic() < deadline:
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
            except httpx.TransportError:
                text = ""
            if (metric(text, "crmsync_runs_total", connection="fake", status="ok") or 0) >= 2:
                break
            time.sleep(0.3)
        assert (metric(text, "crmsync_runs_total", connection="fake", status="ok") or 0) >= 2, text
    finally:
        process.terminate()
        assert process.wait(30) == 0
