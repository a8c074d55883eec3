"""Benchmark: full sync and no-change rerun against a connector's sandbox (a benchmark, not a test).

The sandbox runs in a child process (`crmsync sandbox`), so the peak RSS printed is crmsync's own.

    uv run python bench/bench_sync.py hubspot --deals 1000 10000 100000
    uv run python bench/bench_sync.py hubspot --deals 10000 --store postgresql+psycopg://user:pw@127.0.0.1/scratch

Prints per size: wall time, requests made, the reference requests among them, the minimum the API allows for the
rest (listing pages at its largest page + write batches), deals per second, peak RSS, deals skipped as
unchanged, crmsync's CPU per fetched deal (the sandbox runs in another process), and the same for two reruns with
no remote change:

- `rerun`, started once the CRM's clock has passed the full sync's writes by two overlaps: its search brings back
  every deal the write moved (each is skipped as unchanged);
- `quiet`, right after it: the CRM's clock now vouches for everything before the rerun, so one listing request
  finds nothing.

The overlap is `--overlap` seconds (default 2; a sync's default is 10 minutes, against HubSpot's indexing lag,
which the sandbox does not have): with the default, the same holds for a nightly job.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import re
import resource
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from crmsync.mapping import load_mapping
from crmsync.registry import Registry
from crmsync.store import Store
from crmsync.sync import SyncEngine
from crmsync.testing.plugin import drop_everything

ROOT = Path(__file__).resolve().parents[1]
# Settings that lift the client-side limiter for a benchmark; the rate-limit bound is reported separately.
FAST = {
    "hubspot": {"requests_per_10s": 1000, "search_requests_per_second": 5},
    "pipedrive": {"burst_limit": 120, "write_concurrency": 16},
}
# The sandbox's own limit, as the CRM's top plan enforces it: (requests, window in seconds).
SANDBOX_LIMIT = {"pipedrive": (120, 2.0)}
# Requests the CRM allows per second at that plan (HubSpot Pro: 190 per 10 s; Pipedrive: 120 per 2 s).
PLAN_RATE = {"hubspot": 19.0, "pipedrive": 60.0, "simplicate": 1.0, "afas": 5.0}
# Deals one write request carries (HubSpot batches 100; the others write one deal per request).
DEALS_PER_WRITE = {"hubspot": 100}

SERVE = """
import asyncio, sys, time
from crmsync.registry import Registry
from crmsync.sandbox import serve
name, deals, limit = sys.argv[1], int(sys.argv[2]), sys.argv[3]
latency = float(sys.argv[4]) / 1000 if len(sys.argv) > 4 else 0.0
box = Registry().get(name).sandbox(deals=deals, seed=7)
if limit:
    requests, window = limit.split("/")
    box.rate_limit = (int(requests), float(window))
app = box.app()
if latency:  # every answer this much later (a network and a server farther than loopback); answers overlap
    inner = app
    async def app(scope, receive, send):
        if scope["type"] == "http":
            await asyncio.sleep(latency)
        await inner(scope, receive, send)
server = serve(app)
settings = box.settings(server.base_url)  # the base URL may carry the API's path (Simplicate, AFAS)
print(name, settings["base_url"])
for key, value in settings.items():
    if key != "base_url":
        print(f"    {key} = {value}")
print("Serving", flush=True)
while True:
    time.sleep(3600)
"""


def start_sandbox(connector: str, deals: int) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE, connector, str(deals), "/".join(map(str, SANDBOX_LIMIT.get(connector, ())))],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    settings: dict[str, Any] = {}
    for line in proc.stdout:
        if match := re.match(rf"{connector}\s+(http://\S+)", line):
            settings["base_url"] = match.group(1)
        elif match := re.match(r"\s+(\w+) = (.*)$", line):
            settings[match.group(1)] = match.group(2).strip()
        elif line.startswith("Serving"):
            return proc, settings
    raise RuntimeError("sandbox did not start")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def one_run(
    store: Store, registry: Registry, connector: str, settings: dict[str, Any], overlap: float
) -> dict[str, Any]:
    mapping = load_mapping(ROOT / "mappings" / f"{connector}.toml")
    built = registry.build(connector, "bench", {**settings, **FAST.get(connector, {})}, mapping)
    counted = {"reference": 0}
    read_reference = built.reference

    async def reference() -> Any:  # counts the requests the reference data takes
        before = sum(built.client.stats.values()) if built.client else 0
        found = await read_reference()
        counted["reference"] = (sum(built.client.stats.values()) if built.client else 0) - before
        return found

    built.reference = reference  # type: ignore[method-assign]
    started, cpu = time.perf_counter(), time.process_time()
    async with built:
        result = await SyncEngine(store, built, overlap=timedelta(seconds=overlap)).run()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "reference": counted["reference"],
        "result": result,
        "seconds": elapsed,
        "cpu": cpu,
        "rss": peak_rss_mb(),
        "batch": built.capabilities.write_batch_size,
        "page": built.capabilities.page_size,
    }


def minimum(connector: str, row: dict[str, Any], deals: int, first: bool) -> int:
    """Listing pages at the largest page size plus write requests at the largest batch the API takes."""
    result = row["result"]
    page = row["page"] if first else {"hubspot": 200}.get(connector, row["page"])  # HubSpot's search pages are 200
    pages = max(1, math.ceil((deals if first else result.fetched) / page))
    writes = math.ceil(result.written / DEALS_PER_WRITE.get(connector, 1)) if result.written else 0
    return pages + writes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("connector", nargs="?", default="hubspot")
    parser.add_argument("--deals", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--overlap", type=float, default=2.0, help="seconds an incremental read starts early")
    parser.add_argument(
        "--store",
        metavar="URL",
        help="a scratch PostgreSQL database (crmsync's tables in it are dropped before each size); default: SQLite",
    )
    args = parser.parse_args()
    if args.store and not args.store.startswith("postgresql"):
        parser.error("--store takes a scratch PostgreSQL database's URL (its crmsync tables are dropped)")
    registry = Registry()
    print(
        f"{'deals':>7} {'run':<8} {'wall s':>8} {'requests':>9} {'reference':>9} {'minimum':>8} {'deals/s':>9} "
        f"{'rss MB':>7} {'written':>8} {'plan-rate bound s':>18} {'unchanged':>10} {'cpu ms/deal':>12}"
    )
    for deals in args.deals:
        proc, settings = start_sandbox(args.connector, deals)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                if args.store:
                    drop_everything(args.store)
                store = Store(args.store or f"sqlite:///{tmp}/bench.db")
                for label in ("full", "rerun", "quiet"):
                    if label == "rerun":  # the CRM's clock (its Date header: whole seconds) passes the writes
                        time.sleep(2 * args.overlap + 2.5)
                    row = asyncio.run(one_run(store, registry, args.connector, settings, args.overlap))
                    result = row["result"]
                    bound = result.requests / PLAN_RATE.get(args.connector, 10.0)
                    least = minimum(args.connector, row, deals, label == "full")
                    print(
                        f"{deals:>7} {label:<8} {row['seconds']:>8.2f} {result.requests:>9} {row['reference']:>9} "
                        f"{least:>8} {result.fetched / row['seconds']:>9.0f} "
                        f"{row['rss']:>7.0f} {result.written:>8} {bound:>18.1f} {result.unchanged:>10} "
                        f"{row['cpu'] * 1000 / result.fetched if result.fetched else float('nan'):>12.3f}",
                        flush=True,
                    )
                store.close()
        finally:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
