"""The soak harness: real PostgreSQL, worker and scheduler subprocesses, fake CRMs with slow listings, SQL checks.

Each soak runs in a PostgreSQL schema of its own (the store URL sets `search_path`), so the store's tables and
Procrastinate's are fresh and are dropped afterwards, whatever else uses the test database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa

from crmsync.sandbox.server import RunningServer, serve
from crmsync.schedules import Schedule
from crmsync.testing.fake import MAPPING_PATH
from crmsync.testing.fake_crm import FakeCrm

NOLOCK = Path(__file__).with_name("nolock_cli.py")


@dataclass
class Soak:
    base_url: str  # the test database
    tmp: Path
    locked: bool = True
    schema: str = field(default_factory=lambda: f"soak_{uuid.uuid4().hex[:10]}")
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    servers: list[RunningServer] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{self.base_url}?options={quote(f'-csearch_path={self.schema}')}"

    def engine(self) -> sa.Engine:
        return sa.create_engine(self.url)

    def write_config(self, delays: list[float], crons: list[str]) -> Path:
        lines = [
            f'[store]\nurl = "{self.url}"\n',
            "[service]\nheartbeat_seconds = 1\nstalled_after_seconds = 4\n",
        ]
        for index, (delay, cron) in enumerate(zip(delays, crons, strict=True)):
            crm = FakeCrm(deals=10, seed=index)
            crm.page_delay = delay
            server = serve(crm.app())
            self.servers.append(server)
            lines.append(
                f'[connections.c{index}]\nconnector = "fake"\nmapping = "{MAPPING_PATH}"\nschedule = "{cron}"\n'
                f'timezone = "UTC"\n[connections.c{index}.settings]\nbase_url = "{server.base_url}"\n'
                f'token = "{crm.token}"\nmax_retries = 0\n'
            )
        path = self.tmp / "crmsync.toml"
        path.write_text("\n".join(lines))
        return path

    def start(self, name: str, config: Path, *args: str) -> None:
        entry = [str(NOLOCK)] if not self.locked else ["-m", "crmsync.testing.fake_cli"]
        log = (self.tmp / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(
            [sys.executable, *entry, "--config", str(config), "--log-level", "info", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def wait_for_log(self, name: str, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log(name):
            if time.monotonic() > deadline or self.processes[name].poll() is not None:
                raise AssertionError(f"{name} never logged {text!r}:\n{self.log(name)[-3000:]}")
            time.sleep(0.1)

    def kill_while_busy(self, name: str, timeout: float = 20, settled: float = 0.25) -> None:
        """SIGKILL `name` at a moment it has a sync job running: its log shows a start with no end yet, and has for
        `settled` seconds, so the job has opened its run (a kill right at the start line may precede the run's row;
        every fake listing takes longer than that)."""
        deadline = time.monotonic() + timeout
        busy: tuple[int, float] | None = None  # (starts logged, when the job was first seen running)
        while time.monotonic() < deadline:
            text = self.log(name)
            starts = text.count("sync job started")
            if starts <= text.count("sync job ended"):
                busy = None
            elif busy is None or busy[0] != starts:
                busy = (starts, time.monotonic())
            elif time.monotonic() - busy[1] >= settled:
                self.processes[name].send_signal(signal.SIGKILL)
                self.processes[name].wait()
                return
            time.sleep(0.05)
        raise AssertionError(f"{name} never had a sync job running:\n{self.log(name)[-3000:]}")

    def stop(self, name: str, timeout: float = 60) -> int:
        process = self.processes[name]
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        return process.wait(timeout)

    def wait_drained(self, timeout: float = 90) -> None:
        """Until no sync job waits or runs (the killed worker's job included, once retried)."""
        deadline = time.monotonic() + timeout
        with self.engine().connect() as conn:
            while time.monotonic() < deadline:
                left = conn.execute(
                    sa.text("SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')")
                ).scalar()
                conn.commit()
                if left == 0:
                    return
                time.sleep(0.5)
        raise AssertionError("the queue did not drain")

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
        for server in self.servers:
            server.stop()
        engine = sa.create_engine(self.base_url)
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        engine.dispose()


@contextmanager
def soak(base_url: str, tmp: Path, *, locked: bool = True) -> Iterator[Soak]:
    run = Soak(base_url, tmp, locked=locked)
    with sa.create_engine(base_url).begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{run.schema}"'))
    try:
        yield run
    finally:
        run.close()


# -- the checks, in SQL ---------------------------------------------------------------------------------------

ATTEMPTS = """
WITH ev AS (
    SELECT e.job_id, e.type::text AS type, e.at, j.args->>'connection' AS connection,
           lead(e.at) OVER (PARTITION BY e.job_id ORDER BY e.at, e.id) AS next_at,
           lead(e.type::text) OVER (PARTITION BY e.job_id ORDER BY e.at, e.id) AS next_type
    FROM procrastinate_events e JOIN procrastinate_jobs j ON j.id = e.job_id
    WHERE j.task_name = 'crmsync.sync'
)
SELECT job_id, connection, at AS started, next_at AS ended, next_type AS ended_as
FROM ev WHERE type = 'started'
"""

OVERLAPS = f"""
WITH a AS ({ATTEMPTS})
SELECT x.connection, x.job_id, y.job_id AS other
FROM a x JOIN a y ON x.connection = y.connection AND x.job_id < y.job_id
WHERE x.started < coalesce(y.ended, 'infinity') AND y.started < coalesce(x.ended, 'infinity')
"""

RUN_OVERLAPS = """
SELECT x.connection, x.id, y.id AS other FROM runs x JOIN runs y ON x.connection = y.connection AND x.id < y.id
WHERE x.started_at < coalesce(y.finished_at, 'infinity') AND y.started_at < coalesce(x.finished_at, 'infinity')
"""

SLOTS_RUN_TWICE = """
SELECT connection, trigger, count(*) FROM runs
WHERE trigger LIKE 'schedule %' AND status IN ('ok', 'partial') GROUP BY 1, 2 HAVING count(*) > 1
"""


def rows(conn: sa.Connection, query: str) -> list[tuple[object, ...]]:
    return [tuple(row) for row in conn.execute(sa.text(query))]


def expected_slots(cron: str, start: datetime, end: datetime) -> list[str]:
    """The slots of `cron` in (start, end], as the runs' `trigger` names them."""
    schedule, slots, at = Schedule(cron, "UTC"), [], start
    while (at := schedule.next_after(at)) <= end:
        slots.append(f"schedule {at:%Y-%m-%dT%H:%M:%SZ}")
    return slots


def now() -> datetime:
    return datetime.now(UTC)


MARGIN = timedelta(seconds=3)
