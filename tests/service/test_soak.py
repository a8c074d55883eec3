"""Soak: 3 workers and 2 schedulers over 8 connections on real PostgreSQL for ~40 s, one worker SIGKILLed mid-job.

Asserted in SQL afterwards: no slot ran twice, no two syncs of one connection overlapped (in the queue's job
attempts and in the store's runs), no slot is missing, every job and run finished. The negative control runs the
same processes without the per-connection lock and must find overlaps.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from soak import MARGIN, OVERLAPS, RUN_OVERLAPS, SLOTS_RUN_TWICE, expected_slots, now, rows, soak

from crmsync.testing.plugin import POSTGRES_ENV

pytestmark = pytest.mark.skipif(
    not os.environ.get(POSTGRES_ENV), reason=f"set {POSTGRES_ENV}: the soak needs PostgreSQL"
)

# Listings sleep this long per run; the last two take longer than their cron's interval, so without the lock
# their syncs must overlap, and with it they queue behind each other and catch up once the schedulers stop.
DELAYS = [0.3, 0.6, 0.9, 1.2, 1.5, 2.0, 5.0, 5.0]
CRONS = ["* * * * * */4", "* * * * * */5"] * 3 + ["* * * * * */4", "* * * * * */4"]


def test_slots_run_once_never_overlap_and_survive_a_killed_worker(tmp_path: Path) -> None:
    with soak(os.environ[POSTGRES_ENV], tmp_path) as run:
        config = run.write_config(DELAYS, CRONS)
        for index in range(3):
            run.start(f"worker{index}", config, "worker", "--concurrency", "4", "--no-schedule")
        for index in range(2):
            run.start(f"scheduler{index}", config, "schedule")
        run.wait_for_log("scheduler0", "scheduled c7")  # the schedulers are up (a slow machine boots slowly)
        run.wait_for_log("scheduler1", "scheduled c7")
        started = now()
        time.sleep(15)
        run.kill_while_busy("worker0")
        time.sleep(25)
        for index in range(2):
            assert run.stop(f"scheduler{index}") == 0
        stopped = now()
        run.wait_drained()
        for index in (1, 2):
            assert run.stop(f"worker{index}") == 0

        with run.engine().connect() as conn:
            assert rows(conn, SLOTS_RUN_TWICE) == []
            assert rows(conn, OVERLAPS) == []
            assert rows(conn, RUN_OVERLAPS) == []
            jobs = dict(
                rows(
                    conn,
                    "SELECT status::text, count(*) FROM procrastinate_jobs WHERE task_name = 'crmsync.sync' GROUP BY 1",
                )
            )
            assert set(jobs) == {"succeeded"}, jobs
            unfinished = rows(conn, "SELECT id, status, error FROM runs WHERE status NOT IN ('ok', 'partial')")
            # the killed worker's run, and only it, was marked failed by the run that took its lock over
            assert unfinished, "the SIGKILL hit no running sync"
            assert all(error == "the process running it stopped" for _, _, error in unfinished), unfinished
            twice_started = rows(
                conn,
                "SELECT job_id FROM procrastinate_events WHERE type = 'started' GROUP BY job_id HAVING count(*) > 1",
            )
            assert twice_started, "no job was given back to the queue after its worker died"
            done = {
                (connection, trigger)
                for connection, trigger in rows(
                    conn, "SELECT connection, trigger FROM runs WHERE status IN ('ok', 'partial')"
                )
            }
        for index, cron in enumerate(CRONS):
            wanted = expected_slots(cron, started + MARGIN, stopped - MARGIN)
            assert len(wanted) >= 6
            missing = [slot for slot in wanted if (f"c{index}", slot) not in done]
            assert missing == [], f"c{index} missed {missing}"


def test_negative_control_without_the_lock_syncs_of_one_connection_overlap(tmp_path: Path) -> None:
    with soak(os.environ[POSTGRES_ENV], tmp_path, locked=False) as run:
        config = run.write_config(DELAYS, CRONS)
        for index in range(3):
            run.start(f"worker{index}", config, "worker", "--concurrency", "4", "--no-schedule")
        run.start("scheduler0", config, "schedule")
        time.sleep(18)
        run.stop("scheduler0")
        run.wait_drained()
        for index in range(3):
            run.stop(f"worker{index}")
        with run.engine().connect() as conn:
            overlaps = rows(conn, OVERLAPS)
        slow = {"c6", "c7"}
        assert {connection for connection, _, _ in overlaps} & slow, overlaps


def test_sigterm_lets_the_running_sync_finish_and_an_enqueued_sync_runs_once(tmp_path: Path) -> None:
    with soak(os.environ[POSTGRES_ENV], tmp_path) as run:
        config = run.write_config([3.0], ["0 3 1 1 *"])  # a yearly slot: only the enqueued syncs run
        outputs = []
        for _ in range(3):  # three requests while one waits: one queued job (the queueing lock)
            run.start("enqueue", config, "sync", "--enqueue")
            assert run.processes["enqueue"].wait(30) == 0
            outputs.append(run.log("enqueue"))
        assert "queued as job" in outputs[0]
        assert all("already waiting" in output for output in outputs[1:])
        run.start("worker0", config, "worker", "--no-schedule")
        deadline = time.monotonic() + 30
        while "sync job started" not in run.log("worker0"):
            assert time.monotonic() < deadline, run.log("worker0")
            time.sleep(0.05)
        assert run.stop("worker0") == 0  # SIGTERM mid-sync: the worker waits for it, then exits cleanly
        assert "sync job ended" in run.log("worker0")
        with run.engine().connect() as conn:
            jobs = rows(
                conn, "SELECT status::text, args->>'trigger' FROM procrastinate_jobs WHERE task_name = 'crmsync.sync'"
            )
            runs = rows(conn, "SELECT status, trigger FROM runs")
        assert jobs == [("succeeded", "enqueue")]
        assert runs == [("ok", "enqueue")]
