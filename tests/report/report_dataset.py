"""A small, hand-built dataset for a real SQLite store; the expected figures are worked out in test_figures.py.

Today is Friday 2026-05-15, time zone Europe/Amsterdam, base currency EUR (USD 0.9, GBP 1.2, no rate for SEK).

| deal | conn | stage (status)      | amount    | close      | closed (UTC)     | category  | prob | owner       |
|------|------|---------------------|-----------|------------|------------------|-----------|------|-------------|
| H1   | hs   | s2 (open)           | 10000 EUR | 2026-05-20 |                  | best_case | 0.5  | h-1 Anna    |
| H2   | hs   | s3 (open) flagged   | —         | —          |                  | commit    | 0.8  | h-1 Anna    |
| H3   | hs   | won                 | 2000 USD  | 2026-04-10 | 2026-04-12 10:00 | closed    | 1    | h-2 Bram    |
| H4   | hs   | won                 | 5000 EUR  | 2025-11-01 | 2025-11-03 12:00 | closed    | 1    | h-1 Anna    |
| H5   | hs   | lost                | 3000 EUR  | 2026-05-01 | 2026-05-02 12:00 | omitted   | 0    | h-2 Bram    |
| H6   | hs   | s1 (open)           | 4000 USD  | 2026-06-30 |                  | pipeline  | 0.2  | h-2 Bram    |
| H7   | hs   | s1 (open) flagged   | 700 EUR   | 2026-06-10 |                  | omitted   | 0    | h-1 Anna    |
| X1   | hs   | s1 (deleted) flag   | 3000 EUR  | 2026-05-01 |                  | omitted   | 0    | h-1 Anna    |
| P1   | pd   | q2 (open)           | 6000 EUR  | 2026-04-30 |                  | commit    | 0.9  | p-7 Anna    |
| P2   | pd   | q1 (open)           | 50000 SEK | 2026-05-31 |                  | pipeline  | 0.1  | p-7 Anna    |
| P3   | pd   | q2 (won)            | 8000 EUR  | 2026-04-30 | 2026-04-30 22:30*| closed    | 1    | p-9 Carl    |
| P4   | pd   | q1 (open)           | 1000 EUR  | 2027-01-15 |                  | pipeline  | 0.1  | p-7 Anna    |
| P5   | pd   | q1 (lost)           | 2000 EUR  | 2024-02-15 | 2024-03-01 12:00 | omitted   | 0    | p-9 Carl    |
| A1   | afas | a1 (open) flagged   | 2500 EUR  | —          |                  | best_case | 0.4  | Bram@ mail  |
| A2   | afas | a9 (won)            | 1500 GBP  | 2026-04-20 | — (close date)   | closed    | 1    | Bram@ mail  |

hs = hubspot, pd = pipedrive. * 00:30 on 1 May in Amsterdam: P3 closed in May. Carl (p-9) is no configured
owner. A1 and A2 carry owner id emp-33, which no owner lists, and the email Bram@Example.com, which matches
Bram case-insensitively.

Runs: 1 hubspot (H1 still in s1 as pipeline 0.2), 2 pipedrive, 3 afas, 4 hubspot (H1 moves to s2 as best case
by rule `stage:default/s2`; H6 only changes probability). Stage history: what save_page recorded, plus earlier
stages of H3 (s1 02-01, s2 03-01, s3 04-01) and H5 (s1 03-10, s3 04-15); afas has none (deleted). Runs 1-3
recorded their forecast changes on 2026-05-13, run 4 on 2026-05-14 (11:00 in Amsterdam).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, insert, update

from crmsync.config import Config
from crmsync.model import Deal, Forecast, ForecastCategory, Owner, Pipeline, Stage
from crmsync.store import Store
from crmsync.store import schema as t
from crmsync.store.store import StoredDeal

TODAY = date(2026, 5, 15)
D = Decimal

SALES = Pipeline(id="default", label="Sales")
NIEUW = Pipeline(id="1", label="Nieuw")
AFAS = Pipeline(id="fc", label="Verkoopkansen")

STAGES = {
    "s1": Stage(id="s1", label="Consultation scheduled", pipeline_id="default", order=1, probability=D("0.2")),
    "s2": Stage(id="s2", label="Verbal interest confirmed", pipeline_id="default", order=2),
    "s3": Stage(id="s3", label="Ter ondertekening verzonden", pipeline_id="default", order=3),
    "won": Stage(id="won", label="Closed won", pipeline_id="default", order=4, closed=True, won=True),
    "lost": Stage(id="lost", label="Closed lost", pipeline_id="default", order=5, closed=True),
    "q1": Stage(id="q1", label="Lead", pipeline_id="1", order=1),
    "q2": Stage(id="q2", label="Offerte", pipeline_id="1", order=2),
    "a1": Stage(id="a1", label="Offerte uitgebracht", pipeline_id="fc", order=1),
    "a9": Stage(id="a9", label="Gescoord", pipeline_id="fc", order=9, closed=True, won=True),
}
PIPELINES = {"hubspot": SALES, "pipedrive": NIEUW, "afas": AFAS}
OWNERS = {
    "h-1": Owner(id="h-1", name="Anna J.", email="anna@example.com"),
    "h-2": Owner(id="h-2", name="Bram", email=None),
    "p-7": Owner(id="p-7", name="Anna Jansen"),
    "p-9": Owner(id="p-9", name="Carl Vreemd", email="carl@partner.example"),
    "emp-33": Owner(id="emp-33", name="B. de Vries", email="Bram@Example.com"),
}
ALPHA = 'Alpha <script>alert("x")</script> & Co'


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def make(
    connection: str,
    source_id: str,
    stage: str,
    status: str,
    category: str,
    probability: str,
    owner: str,
    *,
    name: str | None = None,
    amount: str | None = None,
    currency: str | None = "EUR",
    close: date | None = None,
    closed_at: datetime | None = None,
    created: datetime | None = None,
    updated: datetime | None = None,
    group: str | None = None,
    flags: tuple[str, ...] = (),
    rules: tuple[str, ...] | None = None,
) -> tuple[Deal, Forecast]:
    value = D(amount) if amount is not None else None
    prob = D(probability)
    deal = Deal(
        connection=connection,
        source_id=source_id,
        name=name or source_id,
        pipeline=PIPELINES[connection],
        stage=STAGES[stage],
        status=status,  # type: ignore[arg-type]
        amount=value,
        currency=currency if value is not None else None,
        close_date=close,
        owner=OWNERS[owner],
        created_at=created or utc(2026, 1, 2, 9),
        updated_at=updated or closed_at or utc(2026, 5, 1, 9),
        closed_at=closed_at,
        group=group,
    )
    forecast = Forecast(
        category=ForecastCategory(category),
        probability=prob,
        weighted_amount=(value * prob).quantize(D("0.01")) if value is not None else None,
        month=None,
        rule_ids=rules or (f"stage:*/{stage}",),
        flags=flags,
    )
    return deal, forecast


def hubspot_first() -> list[tuple[Deal, Forecast]]:
    return [
        make(
            "hubspot",
            "H1",
            "s1",
            "open",
            "pipeline",
            "0.2",
            "h-1",
            name=ALPHA,
            amount="10000",
            close=date(2026, 5, 20),
            created=utc(2026, 2, 20, 9),
            updated=utc(2026, 3, 1, 10),
            group="Enterprise",
        ),
        make(
            "hubspot",
            "H2",
            "s3",
            "open",
            "commit",
            "0.8",
            "h-1",
            name="Beta",
            close=None,
            flags=("missing_amount", "missing_close_date"),
            created=utc(2026, 4, 1, 9),
            rules=("stage:*/s3", "signing-needs-amount-and-date"),
        ),
        make(
            "hubspot",
            "H3",
            "won",
            "won",
            "closed",
            "1",
            "h-2",
            name="Gamma",
            amount="2000",
            currency="USD",
            close=date(2026, 4, 10),
            closed_at=utc(2026, 4, 12, 10),
            created=utc(2026, 1, 15, 9),
        ),
        make(
            "hubspot",
            "H4",
            "won",
            "won",
            "closed",
            "1",
            "h-1",
            name="Delta",
            amount="5000",
            close=date(2025, 11, 1),
            closed_at=utc(2025, 11, 3, 12),
            created=utc(2025, 9, 1, 9),
        ),
        make(
            "hubspot",
            "H5",
            "lost",
            "lost",
            "omitted",
            "0",
            "h-2",
            name="Epsilon",
            amount="3000",
            close=date(2026, 5, 1),
            closed_at=utc(2026, 5, 2, 12),
            created=utc(2026, 3, 10, 9),
        ),
        make(
            "hubspot",
            "H6",
            "s1",
            "open",
            "pipeline",
            "0.1",
            "h-2",
            name="Zeta",
            amount="4000",
            currency="USD",
            close=date(2026, 6, 30),
            created=utc(2026, 4, 20, 9),
        ),
        make(
            "hubspot",
            "H7",
            "s1",
            "open",
            "omitted",
            "0",
            "h-1",
            name="Omicron",
            amount="700",
            close=date(2026, 6, 10),
            flags=("stale",),
            rules=("stage:*/s1", "stale-deals"),
        ),
        make(
            "hubspot",
            "X1",
            "s1",
            "deleted",
            "omitted",
            "0",
            "h-1",
            name="Xi",
            amount="3000",
            close=date(2026, 5, 1),
            flags=("stale",),
        ),
    ]


def pipedrive_pairs() -> list[tuple[Deal, Forecast]]:
    return [
        make(
            "pipedrive",
            "P1",
            "q2",
            "open",
            "commit",
            "0.9",
            "p-7",
            name="Eta",
            amount="6000",
            close=date(2026, 4, 30),
            group="Enterprise",
        ),
        make(
            "pipedrive",
            "P2",
            "q1",
            "open",
            "pipeline",
            "0.1",
            "p-7",
            name="Theta",
            amount="50000",
            currency="SEK",
            close=date(2026, 5, 31),
        ),
        make(
            "pipedrive",
            "P3",
            "q2",
            "won",
            "closed",
            "1",
            "p-9",
            name="Iota",
            amount="8000",
            close=date(2026, 4, 30),
            closed_at=utc(2026, 4, 30, 22, 30),
            created=utc(2026, 3, 6, 10),
        ),
        make(
            "pipedrive",
            "P4",
            "q1",
            "open",
            "pipeline",
            "0.1",
            "p-7",
            name="Kappa",
            amount="1000",
            close=date(2027, 1, 15),
        ),
        make(
            "pipedrive",
            "P5",
            "q1",
            "lost",
            "omitted",
            "0",
            "p-9",
            name="Lambda",
            amount="2000",
            close=date(2024, 2, 15),
            closed_at=utc(2024, 3, 1, 12),
            created=utc(2024, 1, 10, 9),
        ),
    ]


def afas_pairs() -> list[tuple[Deal, Forecast]]:
    return [
        make(
            "afas",
            "A1",
            "a1",
            "open",
            "best_case",
            "0.4",
            "emp-33",
            name="Mu",
            amount="2500",
            close=None,
            flags=("missing_close_date",),
        ),
        make(
            "afas",
            "A2",
            "a9",
            "won",
            "closed",
            "1",
            "emp-33",
            name="Nu",
            amount="1500",
            currency="GBP",
            close=date(2026, 4, 20),
            created=utc(2026, 4, 1, 8),
            updated=utc(2026, 4, 20, 9),
        ),
    ]


def _run(store: Store, connection: str, pairs: list[tuple[Deal, Forecast]], previous: Any = None) -> int:
    run_id = store.start_run(connection, kind="sync", mode="apply", full=True, digest="d", cursor_before=None)
    store.save_page(run_id, "d", pairs, previous or {})
    store.finish_run(run_id, "ok", {"fetched": len(pairs), "stored": len(pairs)})
    return run_id


def fill(store: Store) -> None:
    assert _run(store, "hubspot", hubspot_first()) == 1
    assert _run(store, "pipedrive", pipedrive_pairs()) == 2
    assert _run(store, "afas", afas_pairs()) == 3
    moved = make(
        "hubspot",
        "H1",
        "s2",
        "open",
        "best_case",
        "0.5",
        "h-1",
        name=ALPHA,
        amount="10000",
        close=date(2026, 5, 20),
        created=utc(2026, 2, 20, 9),
        updated=utc(2026, 5, 14, 10),
        group="Enterprise",
        rules=("stage:default/s2",),
    )
    reprobed = make(
        "hubspot",
        "H6",
        "s1",
        "open",
        "pipeline",
        "0.2",
        "h-2",
        name="Zeta",
        amount="4000",
        currency="USD",
        close=date(2026, 6, 30),
        created=utc(2026, 4, 20, 9),
    )
    previous = {"H1": StoredDeal("s1", "pipeline", D("0.2")), "H6": StoredDeal("s1", "pipeline", D("0.1"))}
    assert _run(store, "hubspot", [moved, reprobed], previous) == 4
    earlier = [
        ("H3", "s1", 1, utc(2026, 2, 1, 10)),
        ("H3", "s2", 2, utc(2026, 3, 1, 10)),
        ("H3", "s3", 3, utc(2026, 4, 1, 10)),
        ("H5", "s1", 1, utc(2026, 3, 10, 10)),
        ("H5", "s3", 3, utc(2026, 4, 15, 10)),
    ]
    with store.tx() as conn:
        conn.execute(
            insert(t.stage_history),
            [
                {
                    "connection": "hubspot",
                    "source_id": sid,
                    "pipeline_id": "default",
                    "stage_id": stage,
                    "stage_order": order,
                    "entered_at": at,
                    "run_id": 1,
                }
                for sid, stage, order, at in earlier
            ],
        )
        conn.execute(delete(t.stage_history).where(t.stage_history.c.connection == "afas"))
        changes = t.forecast_changes
        conn.execute(update(changes).where(changes.c.run_id.in_([1, 2, 3])).values(at=utc(2026, 5, 13, 9)))
        conn.execute(update(changes).where(changes.c.run_id == 4).values(at=utc(2026, 5, 14, 9)))


def make_config(**overrides: Any) -> Config:
    raw: dict[str, Any] = {
        "timezone": "Europe/Amsterdam",
        "base_currency": "EUR",
        "rates": {"USD": "0.9", "GBP": "1.2"},
        "labels": {
            "pipeline": "Pijplijn",
            "best_case": "Beste kans",
            "commit": "Toegezegd",
            "closed": "Gesloten",
            "omitted": "Niet meegeteld",
        },
        "owners": [
            {
                "name": "Anna Jansen",
                "email": "anna@example.com",
                "team": "Noord",
                "ids": {"hubspot": "h-1", "pipedrive": "p-7"},
            },
            {"name": "Bram de Vries", "email": "bram@example.com", "team": "Zuid", "ids": {"hubspot": "h-2"}},
            {"name": "Dana Smit", "email": "dana@example.com", "team": "Noord"},
        ],
        "targets": [
            {"owner": "anna@example.com", "period": "2026-Q2", "amount": "10000"},
            {"owner": "anna@example.com", "period": "2026", "amount": "40000"},
            {"owner": "bram@example.com", "period": "2026-Q2", "amount": "5000"},
            {"owner": "bram@example.com", "period": "2026-05", "amount": "2000"},
        ],
    }
    raw.update(overrides)
    return Config.model_validate(raw)
