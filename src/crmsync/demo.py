"""`crmsync demo`: every installed connector's sandbox, one fresh SQLite store, two syncs and a forecast."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from crmsync.app import App
from crmsync.config import load_config
from crmsync.model import ForecastCategory
from crmsync.registry import Registry
from crmsync.render import print_outcomes
from crmsync.sandbox import Sandbox, serve
from crmsync.store import Outcome

# One person across CRMs: the sandboxes' seeded owner ids per connector.
DEMO_OWNERS = [
    (
        "Fatima El Amrani",
        "fatima@example.com",
        "Benelux",
        {"afas": "FATIMAE", "simplicate": "employee:219c2f37292f88cf", "hubspot": "101"},
    ),
    ("Jan Jansen", "jan@example.com", "Benelux", {"simplicate": "employee:00bf02c36aa0a9dc", "hubspot": "102"}),
    ("Sanne Bakker", "sanne@example.com", "Benelux", {"simplicate": "employee:5bffc1f93506ada0", "hubspot": "103"}),
    ("Joris Bakker", "joris@example.com", "Benelux", {"afas": "JORISB", "hubspot": "104", "pipedrive": "104"}),
    ("Anne Visser", "anne@example.com", "DACH", {"afas": "ANNEV", "pipedrive": "101"}),
    ("Kees de Zwart", "kees@example.com", "DACH", {"afas": "KEESZ", "pipedrive": "102"}),
    ("Pieter de Vries", "pieter@example.com", "DACH", {"simplicate": "employee:6208c3b06047320e", "pipedrive": "103"}),
]
DEMO_TARGET = 400_000

DEMO_LABELS = {
    "pipeline": "Pijplijn",
    "best_case": "Beste geval",
    "commit": "Toezegging",
    "closed": "Gesloten",
    "omitted": "Niet in prognose",
}


def find_mappings() -> Path:
    """The repository's mappings/ directory (the demo runs from a checkout)."""
    for candidate in (Path.cwd() / "mappings", Path(__file__).resolve().parents[2] / "mappings"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("no mappings/ directory next to the working directory or the source tree")


def write_config(directory: Path, urls: dict[str, str], sandboxes: dict[str, Sandbox], mappings: Path) -> Path:
    """A demo config: one connection per sandbox, secrets passed by environment variable as in production."""
    lines = [
        "# Written by `crmsync demo`.",
        f'store = {{ url = "sqlite:///{(directory / "crmsync.db").as_posix()}" }}',
        'timezone = "Europe/Amsterdam"',
        'base_currency = "EUR"',
        "rates = { USD = 0.92, GBP = 1.16, SEK = 0.087 }",
        "labels = { " + ", ".join(f'{k} = "{v}"' for k, v in DEMO_LABELS.items()) + " }",
        "service = { debounce_seconds = 1 }",
        "",
    ]
    year = datetime.now().year
    for person, email, team, ids in DEMO_OWNERS:
        known = {f"{c}-demo": v for c, v in ids.items() if c in urls}
        lines += [
            "[[owners]]",
            f'name = "{person}"',
            f'email = "{email}"',
            f'team = "{team}"',
            "ids = { " + ", ".join(f'{k} = "{v}"' for k, v in known.items()) + " }",
            "",
            "[[targets]]",
            f'owner = "{email}"',
            f'period = "{year}"',
            f"amount = {DEMO_TARGET}",
            "",
        ]
    for name, url in urls.items():
        settings = sandboxes[name].settings(url)
        lines.append(f"[connections.{name}-demo]")
        lines.append(f'connector = "{name}"')
        lines.append(f'mapping = "{(mappings / f"{name}.toml").as_posix()}"')
        lines.append('schedule = "0 2 * * *"')
        if name in WEBHOOKS:
            lines.append(f"webhook = {WEBHOOKS[name]}")
        lines.append(f"[connections.{name}-demo.settings]")
        for key, value in settings.items():
            if key == "base_url" or not isinstance(value, str):
                lines.append(f"{key} = {_toml(value)}")
                continue
            env = f"CRMSYNC_DEMO_{name.upper()}_{key.upper()}"
            os.environ[env] = value
            lines.append(f'{key} = "${{{env}}}"')
        lines.append("")
    path = directory / "crmsync.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


# what `crmsync serve` checks the sandboxes' webhooks with (HubSpot: the app secret; Pipedrive: basic auth)
DEMO_HOOK_SECRET = "demo-app-secret"
WEBHOOKS = {
    "hubspot": f'{{ secret = "{DEMO_HOOK_SECRET}" }}',
    "pipedrive": f'{{ username = "crmsync", password = "{DEMO_HOOK_SECRET}" }}',
}


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_demo(console: Console, *, deals: int = 60, directory: Path | None = None) -> None:
    started = time.monotonic()
    registry = Registry()
    directory = directory or Path(tempfile.mkdtemp(prefix="crmsync-demo-"))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "crmsync.db").unlink(missing_ok=True)
    mappings = find_mappings()
    with ExitStack() as stack:
        sandboxes: dict[str, Sandbox] = {}
        urls: dict[str, str] = {}
        for name in registry.names():
            if not (mappings / f"{name}.toml").exists():
                console.print(f"[yellow]skipping {name}: no mappings/{name}.toml[/]")
                continue
            box = registry.get(name).sandbox(deals=deals, seed=7)
            if box is None:
                continue
            server = stack.enter_context(serve(box.app()))
            sandboxes[name], urls[name] = box, server.base_url
            console.print(f"sandbox [bold]{name}[/] on {server.base_url} ({deals} deals)", highlight=False)
        for info in registry.infos.values():
            if info.cls is None:
                console.print(f"[yellow]connector {info.name} failed to load: {info.error}[/]", highlight=False)
        config_path = write_config(directory, urls, sandboxes, mappings)
        app = App(load_config(config_path), registry)
        try:
            _syncs(console, app, sandboxes)
            _webhooks(console, app, sandboxes, urls)
            written = _summary(console, app, directory)
            if "hubspot" in sandboxes:
                written += _simulation(console, app, directory, mappings / "hubspot.toml")
            console.print("\nFiles written: " + ", ".join(str(path) for path in written), highlight=False)
        finally:
            app.close()
    console.print(
        f"\nDemo finished in {time.monotonic() - started:.1f} s. Config, store and report are in {directory}",
        highlight=False,
    )


def _syncs(console: Console, app: App, sandboxes: dict[str, Sandbox]) -> None:
    console.rule("First sync: every deal is read, the rules decide, differing values are written back")
    first = asyncio.run(app.sync(app.names()))
    print_outcomes(first, app)
    _written_table(console, app, first)

    console.rule("A salesperson changes one deal's category by hand in each CRM")
    for name, box in sandboxes.items():
        connection = f"{name}-demo"
        wb = app.mapping(connection).writeback
        if not wb.category_field:
            continue
        ledger = [
            r
            for o in first
            if o.connection == connection and o.result
            for r in app.store.ledger(o.result.run_id)
            if r["field"] == "category" and r["outcome"] == Outcome.WRITTEN
        ]
        stored = app.store.stored_deals(connection, [r["source_id"] for r in ledger])
        # a salesperson re-judges a deal still in play, not one already won (closed) or lost (omitted)
        done = {ForecastCategory.CLOSED.value, ForecastCategory.OMITTED.value}
        open_ids = [r["source_id"] for r in ledger if (d := stored.get(r["source_id"])) and d.category not in done]
        if not open_ids:
            continue
        deal_id = open_ids[0]
        current = box.remote_values(deal_id)[0]
        by_hand = next(v for v in wb.category_values.values() if v != current)
        box.edit_by_hand(deal_id, category=by_hand)
        console.print(f"  {connection}: deal {deal_id} set to {by_hand!r} by hand (was {current!r})", highlight=False)

    console.rule("Second sync: nothing left to write; the hand-set categories are respected")
    second = asyncio.run(app.sync(app.names()))
    print_outcomes(second, app)
    for outcome in second:
        if outcome.result is not None:
            respected = [r for r in app.store.ledger(outcome.result.run_id) if r["outcome"] == Outcome.RESPECTED]
            for row in respected[:3]:
                console.print(
                    f"  {outcome.connection}: deal {row['source_id']} {row['field']} left at "
                    f"{row['old_value']!r}: {row['reason']}",
                    highlight=False,
                )


def _written_table(console: Console, app: App, outcomes: list) -> None:  # type: ignore[type-arg]
    table = Table(title="Written per connection and category")
    table.add_column("connection")
    for category in ForecastCategory:
        table.add_column(app.config.label(category), justify="right")
    table.add_column("total", justify="right")
    for outcome in outcomes:
        if outcome.result is None:
            continue
        counts: Counter[str] = outcome.result.written_by_category
        table.add_row(
            outcome.connection, *(str(counts.get(c.value, 0)) for c in ForecastCategory), str(outcome.result.written)
        )
    console.print(table)


def _summary(console: Console, app: App, directory: Path) -> list[Path]:
    from zoneinfo import ZoneInfo

    from crmsync.report import build_report, render_terminal, resolve_period, to_html

    console.rule("Forecast across every CRM, this year")
    today = datetime.now(ZoneInfo(app.config.timezone)).date()
    period = resolve_period("this_year", today=today)
    report = build_report(app.store, app.config, period=period, today=today)
    render_terminal(report, console)
    path = directory / "report.html"
    path.write_text(to_html(report), encoding="utf-8")
    console.print(f"\nHTML report written to {path}", highlight=False)
    return [path]


def _simulation(console: Console, app: App, directory: Path, mapping: Path) -> list[Path]:
    """Simulate one mapping change before go-live: HubSpot's "contract sent" stage at 70 % instead of 90 %."""
    from crmsync.model import DEFAULT_LABELS
    from crmsync.simulate import simulate
    from crmsync.simulate_render import render_terminal, to_html, to_json

    original = mapping.read_text(encoding="utf-8")
    before = 'stage = "contractsent"\ncategory = "commit"\nprobability = 0.90'
    if before not in original:
        return []
    candidate = directory / "hubspot-candidate.toml"
    candidate.write_text(original.replace(before, before.replace("0.90", "0.70")), encoding="utf-8")
    console.rule("Before go-live: simulate a mapping change (HubSpot contract sent at 70 % instead of 90 %)")
    sim = simulate(app.store, app.config, candidate, ["hubspot-demo"], app.today())
    labels = {category: app.config.label(category) for category in DEFAULT_LABELS}
    render_terminal(sim, console, labels, limit=5)
    page, data = directory / "simulation.html", directory / "simulation.json"
    page.write_text(to_html(sim, labels), encoding="utf-8")
    data.write_text(to_json(sim), encoding="utf-8")
    return [candidate, page, data]


def _webhooks(console: Console, app: App, sandboxes: dict[str, Sandbox], urls: dict[str, str]) -> None:
    """`crmsync serve` in this process: the sandboxes post webhooks, each starts one incremental sync."""
    import httpx

    from crmsync.sandbox.server import start
    from crmsync.service.serve import build

    hooked: list[str] = [name for name in ("hubspot", "pipedrive") if name in sandboxes]
    if not hooked:
        return
    console.rule("Webhooks: a change in the CRM starts an incremental sync by itself (`crmsync serve`)")
    asgi, _ = build(app)
    with start(asgi, host="127.0.0.1", port=0, name="serve", lifespan="on") as server:
        for name in hooked:
            box, target = sandboxes[name], f"{server.base_url}/webhooks/{name}-demo"
            if name == "hubspot":
                box.subscribe_webhooks(target, DEMO_HOOK_SECRET)  # type: ignore[attr-defined]
            else:  # Pipedrive's own API: POST /v1/webhooks with basic-auth credentials for the receiver
                httpx.post(
                    f"{urls[name]}/api/v1/webhooks",
                    headers={"x-api-token": box.settings(urls[name])["api_token"]},
                    json={
                        "subscription_url": target,
                        "event_action": "change",
                        "event_object": "deal",
                        "http_auth_user": "crmsync",
                        "http_auth_password": DEMO_HOOK_SECRET,
                    },
                ).raise_for_status()
            box.touch(box.deal_ids()[1])
            box.touch(box.deal_ids()[2])
            console.print(f"  {name}: two deals edited in the CRM; its webhooks went to {target}", highlight=False)
        deadline = time.monotonic() + 30
        runs: dict[str, dict[str, object]] = {}
        while len(runs) < len(hooked) and time.monotonic() < deadline:
            for name in hooked:
                found = [r for r in app.store.runs(f"{name}-demo", 3) if r["trigger"] == "webhook"]
                if found and found[0]["status"] != "running":
                    runs[name] = found[0]
            time.sleep(0.2)
    for crm, run in runs.items():
        console.print(
            f"  {crm}-demo: run {run['id']} (trigger webhook, incremental) {run['status']}: "
            f"fetched {run['fetched']}, written {run['written']}",
            highlight=False,
        )
