"""A chaos run against the fake CRM over loopback: 5xx, 429s with and without Retry-After, dropped connections, slow
answers, answers lost after the CRM acted, and answers stalled past the client's timeout (acted on after it gave
up), on about a third of all requests.
After the runs settle, the CRM holds exactly what a clean run leaves, and every ledger row is settled."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from crmsync.sandbox import serve
from crmsync.store import Outcome, Store
from crmsync.sync import SyncEngine
from crmsync.testing.fake import FakeConnector, FakeSettings, fake_mapping
from crmsync.testing.fake_crm import FakeCrm

TODAY = date(2026, 6, 15)


async def settle(crm: FakeCrm, store: Store, runs: int, *, retries: int = 10, first_full: bool = True) -> list[str]:
    """Sync `runs` times (full, then incremental); the statuses of the runs."""
    statuses = []
    with serve(crm.app()) as server:
        for index in range(runs):
            settings = FakeSettings(**{**crm.settings(server.base_url), "max_retries": retries, "timeout_seconds": 1})
            async with FakeConnector("fake", settings, fake_mapping()) as connector:
                try:
                    result = await SyncEngine(store, connector, today=TODAY, full=first_full and index == 0).run()
                    statuses.append(str(result.status))
                except Exception as exc:  # a run may fail under chaos; the next one must repair it
                    statuses.append(f"error: {type(exc).__name__}")
    return statuses


async def test_a_chaotic_crm_ends_where_a_clean_one_does(tmp_path: Path) -> None:
    clean, chaotic = FakeCrm(deals=60, seed=5), FakeCrm(deals=60, seed=5)
    chaotic.faults.error_rate = chaotic.faults.rate_limit_rate = 0.07
    chaotic.faults.drop_rate = 0.06
    chaotic.faults.lost_rate = 0.08
    chaotic.faults.stall_rate, chaotic.faults.stall_seconds = 0.05, 2.5
    chaotic.faults.slow_rate, chaotic.faults.retry_after_share = 0.04, 0.5
    met: list[str] = []
    roll = chaotic.faults.next

    def counted() -> str | None:
        fault = roll()
        if fault is not None:
            met.append(fault)
        return fault

    chaotic.faults.next = counted  # type: ignore[method-assign]

    clean_store, chaos_store = Store(f"sqlite:///{tmp_path / 'clean.db'}"), Store(f"sqlite:///{tmp_path / 'chaos.db'}")
    try:
        assert await settle(clean, clean_store, 1) == ["ok"]
        # one retry only: writes run out of retries, so answers lost or stalled leave `unknown` writes to read back
        statuses = await settle(chaotic, chaos_store, 4, retries=1)
        statuses += await settle(chaotic, chaos_store, 2, first_full=False)  # the same chaos, ridden out by retries
        kinds = {"429", "429-retry-after", "503", "drop", "lost", "stall", "slow"}
        assert kinds <= set(met) and len(met) >= 12, f"the faults were met: {met}"
        remote_clean = {i: clean.remote_values(i) for i in clean.deal_ids()}
        remote_chaos = {i: chaotic.remote_values(i) for i in chaotic.deal_ids()}
        assert remote_chaos == remote_clean, f"runs: {statuses}"
        rows = [row for run in chaos_store.runs("fake") for row in chaos_store.ledger(run["id"])]
        assert all(row["outcome"] != Outcome.PENDING for row in rows)
        # Answers lost on writes: `unknown`, or read back at the end of the run when that read escaped the chaos
        # (whether it did depends on the order concurrent requests meet the faults; test_lost_answers covers the
        # read-back itself). Either way the CRM ends where the clean run left it (asserted above).
        lost = [row for row in rows if row["outcome"] == Outcome.UNKNOWN or "read back" in (row["reason"] or "")]
        assert lost, f"some answers were lost on writes: {statuses}"
    finally:
        clean_store.close()
        chaos_store.close()
