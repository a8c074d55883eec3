"""Benchmark: crmsync's own CPU per stage, without any HTTP (a benchmark, not a test).

    uv run python bench/bench_engine.py [--deals 20000] [--postgres postgresql+psycopg://...]

Prints deals per second per core for JSON decoding, `to_deal`, the rules (`evaluate`), the plan (`plan_deal`), the
three together (the engine), and the store (rows per second for a chunk upsert and for ledger rows) on SQLite, and
on PostgreSQL when a URL is given. The records are the HubSpot sandbox's, as its list endpoint returns them.
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from crmsync.mapping import load_mapping
from crmsync.model import Deal
from crmsync.rules import evaluate
from crmsync.rules_compiled import compiled
from crmsync.store import LedgerRow, Outcome, Store
from crmsync.sync.chunks import CHUNK_RECORDS
from crmsync.sync.collector import frozen_before
from crmsync.sync.plan import plan_deal
from crmsync_hubspot.connector import HubSpotConnector, HubSpotSettings
from crmsync_hubspot.sandbox import HubSpotSandbox

ROOT = Path(__file__).resolve().parents[1]


def timed(label: str, count: int, work: Callable[[], Any]) -> Any:
    # The inputs (every record and deal of the benchmark at once) move out of the garbage collector's sight: a
    # sync holds one page at a time, and scanning 20,000 live deals at each collection is the benchmark's cost
    gc.collect()
    gc.freeze()
    started = time.process_time()
    result = work()
    seconds = time.process_time() - started
    SPENT[label] = seconds
    print(f"  {label:<34} {count / seconds:>12,.0f} /s   {seconds * 1e6 / count:8.1f} µs each")
    return result


SPENT: dict[str, float] = {}  # CPU seconds per stage, for the engine's total


def records(count: int) -> list[bytes]:
    box = HubSpotSandbox(deals=count, seed=3)
    return [json.dumps(box.state.to_json(r, None, None)).encode() for r in box.state.records.values()]


def engine(count: int) -> list[Deal]:
    mapping = load_mapping(ROOT / "mappings" / "hubspot.toml")
    connector = HubSpotConnector("bench", HubSpotSettings(base_url="http://127.0.0.1:9", token="bench-token"), mapping)
    box = HubSpotSandbox(deals=1, seed=3)
    reference = _reference(box, connector)
    raw = records(count)
    print(f"engine, {count:,} HubSpot records, one core")
    parsed = timed("JSON decode", count, lambda: [json.loads(r) for r in raw])
    deals = timed("to_deal", count, lambda: [connector.to_deal(r, reference) for r in parsed])
    today = date.today()
    forecasts = timed("rules (evaluate)", count, lambda: [evaluate(d, mapping, today) for d in deals])
    pairs = list(zip(deals, forecasts, strict=True))
    timed("plan (plan_deal)", count, lambda: [plan_deal(d, f, mapping, {}, None) for d, f in pairs])
    seconds = sum(SPENT[stage] for stage in ("to_deal", "rules (evaluate)", "plan (plan_deal)"))
    label = "engine: to_deal + rules + plan"
    print(f"  {label:<34} {count / seconds:>12,.0f} /s   {seconds * 1e6 / count:8.1f} µs each")
    paged(connector, reference, parsed)
    return deals


def paged(connector: HubSpotConnector, reference: Any, parsed: list[Any], rounds: int = 5) -> None:
    """The three stages as a sync runs them: a chunk of the listing at a time (`CHUNK_RECORDS`), each chunk's
    deals dropped after it (a sync holds one chunk; 20,000 live deals make every garbage collection scan them all).
    The best of `rounds` rounds per stage is shown: this machine's speed drifts by a third between runs, and the
    best is the code's cost."""
    best: dict[str, float] = {}
    gc.collect()
    with frozen_before():  # the collector as a run sets it
        for _ in range(rounds):
            _round(connector, reference, parsed, best)
    count = len(parsed)
    print(f"  the same, {CHUNK_RECORDS} at a time (a chunk, as a sync holds them), best of {rounds} rounds:")
    for stage, seconds in best.items():
        print(f"  {'  ' + stage:<34} {count / seconds:>12,.0f} /s   {seconds * 1e6 / count:8.1f} µs each")
    total = sum(best.values())
    print(f"  {'  engine':<34} {count / total:>12,.0f} /s   {total * 1e6 / count:8.1f} µs each")


def _round(connector: HubSpotConnector, reference: Any, parsed: list[Any], best: dict[str, float]) -> None:
    """One round of `paged`: each stage's time is kept in `best` when it is the best yet."""
    mapping, today = connector.mapping, date.today()
    spent = {"to_deal": 0.0, "rules": 0.0, "plan": 0.0}
    for start in range(0, len(parsed), CHUNK_RECORDS):
        began = time.process_time()
        deals = [connector.to_deal(r, reference) for r in parsed[start : start + CHUNK_RECORDS]]
        mapped = time.process_time()
        rules = compiled(mapping).evaluate  # as the engine looks them up, once a chunk
        forecasts = [rules(d, today) for d in deals]
        evaluated = time.process_time()
        for deal, forecast in zip(deals, forecasts, strict=True):
            plan_deal(deal, forecast, mapping, {}, None)
        spent["to_deal"] += mapped - began
        spent["rules"] += evaluated - mapped
        spent["plan"] += time.process_time() - evaluated
    best.update({stage: min(seconds, best.get(stage, seconds)) for stage, seconds in spent.items()})


def _reference(box: HubSpotSandbox, connector: HubSpotConnector) -> Any:
    import asyncio

    import httpx

    async def read() -> Any:
        transport = httpx.ASGITransport(app=box.app())
        async with HubSpotConnector.using(transport)(
            "bench", HubSpotSettings(base_url="http://sandbox", token=box.token), connector.mapping
        ) as live:
            return await live.reference()

    return asyncio.run(read())


def store(url: str, deals: list[Deal], label: str) -> None:
    from crmsync.model import ForecastCategory
    from crmsync.rules import evaluate as rules

    target = Store(url)
    mapping = load_mapping(ROOT / "mappings" / "hubspot.toml")
    run_id = target.start_run("bench", kind="sync", mode="apply", full=True, digest="x", cursor_before=None)  # type: ignore[arg-type]
    pairs = [(d.model_copy(update={"connection": "bench"}), rules(d, mapping, date.today())) for d in deals]
    print(f"store on {label}, {len(pairs):,} deals in chunks of {CHUNK_RECORDS}")

    def pages() -> None:
        for start in range(0, len(pairs), CHUNK_RECORDS):
            target.save_page(run_id, "x", pairs[start : start + CHUNK_RECORDS], {})

    timed("deals + forecasts upserted", len(pairs), pages)
    print(f"  {'':<34} (a first sync writes 4 rows a deal: deal, forecast, its change, its stage entry)")
    rows = [
        LedgerRow(run_id, "bench", d.source_id, "category", None, ForecastCategory.COMMIT.value, Outcome.PENDING, None)
        for d, _ in pairs
    ]

    def ledger() -> None:
        for start in range(0, len(rows), CHUNK_RECORDS):
            target.add_ledger(rows[start : start + CHUNK_RECORDS], ids=False)  # as a sync adds them

    timed("ledger rows inserted", len(rows), ledger)
    target.finish_run(run_id, "ok", {}, cursor_after=datetime.now(UTC))  # type: ignore[arg-type]
    target.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=20000)
    parser.add_argument("--postgres", help="also measure the store on this PostgreSQL URL (its tables are written)")
    args = parser.parse_args()
    deals = engine(args.deals)
    with tempfile.TemporaryDirectory() as folder:
        store(f"sqlite:///{folder}/bench.db", deals, "SQLite")
    if args.postgres:
        store(args.postgres, deals, "PostgreSQL")


if __name__ == "__main__":
    main()
