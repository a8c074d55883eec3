"""Benchmark: crmsync against a plain script on HubSpot's official Python client (a benchmark, not a test).

    uv run python bench/bench_sdk.py [--deals 10000] [--limited-deals 1000] [--rounds 2] [--latency-ms 20]

The script does what a revenue-operations engineer would write by hand: list every deal (100 a page), decide the
category and probability with crmsync's own rules (so both do the same work), and PATCH each deal that differs,
with urllib3 retries honouring Retry-After. Both run against a fresh HubSpot sandbox in a child process (same seed),
interleaved, first with no server limit, then at HubSpot Pro's 190 requests per 10 s, then with no limit but every
answer `--latency-ms` later (loopback answers in well under a millisecond; a CRM across the internet does not).
Printed: wall seconds, requests, CPU seconds of the syncing process, and the ratios script/crmsync.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from bench_sync import SERVE
from hubspot import HubSpot
from hubspot.crm.deals import SimplePublicObjectInput
from urllib3.util.retry import Retry

from crmsync.connector import Reference
from crmsync.mapping import load_mapping
from crmsync.registry import Registry
from crmsync.rules import evaluate
from crmsync.store import Store
from crmsync.sync import SyncEngine
from crmsync.sync.plan import plan_deal

ROOT = Path(__file__).resolve().parents[1]
MAPPING = load_mapping(ROOT / "mappings" / "hubspot.toml")


def sandbox(deals: int, limit: str, latency_ms: float = 0.0) -> tuple[subprocess.Popen[str], str, str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE, "hubspot", str(deals), limit, str(latency_ms)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    url = token = ""
    for line in proc.stdout:
        if match := re.match(r"hubspot\s+(http://\S+)", line):
            url = match.group(1)
        elif match := re.match(r"\s+token = (.*)$", line):
            token = match.group(1).strip()
        elif line.startswith("Serving"):
            return proc, url, token
    raise RuntimeError("sandbox did not start")


def answered(url: str, token: str) -> int:
    import httpx

    headers = httpx.get(f"{url}/crm/v3/pipelines/deals", headers={"Authorization": f"Bearer {token}"}).headers
    return int(headers["x-hubspot-ratelimit-daily"]) - int(headers["x-hubspot-ratelimit-daily-remaining"]) - 1


def run_crmsync(url: str, token: str, limited: bool) -> dict[str, Any]:
    settings = {"base_url": url, "token": token, "requests_per_10s": 190 if limited else 1000}
    connector = Registry().build("hubspot", "bench", settings, MAPPING)
    with tempfile.TemporaryDirectory() as folder:
        store = Store(f"sqlite:///{folder}/b.db")
        started, cpu = time.perf_counter(), time.process_time()

        async def go() -> Any:
            async with connector:
                return await SyncEngine(store, connector).run()

        result = asyncio.run(go())
        out = {"wall": time.perf_counter() - started, "cpu": time.process_time() - cpu, "written": result.written}
        store.close()
    return out


def run_script(url: str, token: str) -> dict[str, Any]:
    """The hand-written script: list everything, PATCH every deal whose values differ."""
    started, cpu = time.perf_counter(), time.process_time()
    retry = Retry(
        total=8,
        backoff_factor=0.5,
        status_forcelist=(429, 502, 503),
        respect_retry_after_header=True,
        allowed_methods=None,
    )
    api = HubSpot(access_token=token, host=url, retry=retry)
    connector = Registry().build("hubspot", "script", {"base_url": url, "token": token}, MAPPING)
    reference = asyncio.run(_reference(connector))
    listed = connector._properties()  # what to_deal reads: the script asks for the same properties
    wb, today, written, after = MAPPING.writeback, date.today(), 0, None
    while True:
        page = api.crm.deals.basic_api.get_page(limit=100, after=after, properties=listed)
        for item in page.results:
            raw = {"id": item.id, "properties": item.properties, "archived": False}
            deal = connector.to_deal(raw, reference)
            plan = plan_deal(deal, evaluate(deal, MAPPING, today), MAPPING, {}, None)
            changes = {c.field: c.new for c in plan.changes if c.write}
            if changes:
                properties = {}
                if "category" in changes:
                    properties[wb.category_field or ""] = changes["category"]
                if "probability" in changes:
                    properties[wb.probability_field or ""] = changes["probability"]
                api.crm.deals.basic_api.update(item.id, SimplePublicObjectInput(properties=properties))
                written += 1
        if page.paging is None:
            break
        after = page.paging.next.after
    return {"wall": time.perf_counter() - started, "cpu": time.process_time() - cpu, "written": written}


async def _reference(connector: Any) -> Reference:
    async with connector:
        return await connector.reference()  # type: ignore[no-any-return]


def measure(deals: int, limited: bool, rounds: int, latency_ms: float = 0.0) -> None:
    limit = "190/10" if limited else ""
    title = "at 190 requests / 10 s" if limited else "no server limit"
    if latency_ms:
        title += f", each answer {latency_ms:.0f} ms later"
    print(f"\n{deals:,} deals, {title}")
    print(f"  {'who':<10}{'wall s':>9}{'requests':>10}{'cpu s':>8}{'written':>9}")
    totals: dict[str, list[dict[str, Any]]] = {"crmsync": [], "sdk script": []}
    for _ in range(rounds):
        for who, runner in (("crmsync", lambda u, t: run_crmsync(u, t, limited)), ("sdk script", run_script)):
            proc, url, token = sandbox(deals, limit, latency_ms)
            try:
                out = runner(url, token)
                out["requests"] = answered(url, token)
            finally:
                proc.kill()
            totals[who].append(out)
            print(f"  {who:<10}{out['wall']:>9.1f}{out['requests']:>10}{out['cpu']:>8.1f}{out['written']:>9}")
    ours, theirs = totals["crmsync"], totals["sdk script"]

    def mean(rows: list[dict[str, Any]], key: str) -> float:
        return sum(r[key] for r in rows) / len(rows)

    print(
        f"  script / crmsync: wall {mean(theirs, 'wall') / mean(ours, 'wall'):.1f}x, "
        f"requests {mean(theirs, 'requests') / mean(ours, 'requests'):.1f}x, "
        f"cpu {mean(theirs, 'cpu') / mean(ours, 'cpu'):.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=10000)
    parser.add_argument("--limited-deals", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--latency-ms", type=float, default=20.0, help="added to every answer in the third run")
    parser.add_argument("--latency-deals", type=int, default=1000)
    args = parser.parse_args()
    measure(args.deals, False, args.rounds)
    measure(args.limited_deals, True, args.rounds)
    if args.latency_ms:
        measure(args.latency_deals, False, args.rounds, args.latency_ms)


if __name__ == "__main__":
    main()
