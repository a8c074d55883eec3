"""What dry runs evaluated (`dry_run_deals`), and which of it the report reads, on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

from support import make_deal

from crmsync.model import Forecast, ForecastCategory
from crmsync.store import RunStatus, Store

COMMIT = Forecast(
    category=ForecastCategory.COMMIT,
    probability=Decimal("0.9"),
    weighted_amount=Decimal(9000),
    month=None,
    rule_ids=("r1",),
    flags=("stale",),
)


def run(store: Store, mode: str, connection: str = "hubspot") -> int:
    run_id = store.start_run(connection, kind="sync", mode=mode, full=True, digest="d", cursor_before=None)
    store.finish_run(run_id, RunStatus.OK, {})
    return run_id


def test_a_dry_run_keeps_what_it_evaluated_until_an_applying_run_is_newer(store: Store) -> None:
    dry = run(store, "dry-run")
    assert store.save_preview(dry, [(make_deal(source_id="7"), COMMIT), (make_deal(source_id="8"), COMMIT)]) == 2
    run(store, "dry-run", "pipedrive")

    [seven, eight] = store.reads.dry_run_deals()
    assert (seven["source_id"], seven["run_id"], seven["category"], seven["probability"]) == (
        "7",
        dry,
        "commit",
        Decimal("0.9"),
    )
    assert (seven["flags"], seven["rule_ids"], seven["amount"], seven["name"]) == (
        ("stale",),
        ("r1",),
        Decimal(10000),
        "Acme — licenties",
    )
    assert eight["source_id"] == "8"
    assert store.count_deals("hubspot") == 0, "the snapshot is left alone"
    assert store.reads.dry_run_deals(["pipedrive"]) == []

    again = run(store, "dry-run")
    store.save_preview(again, [(make_deal(source_id="7", name="Acme renamed"), COMMIT)])
    names = {row["source_id"]: (row["name"], row["run_id"]) for row in store.reads.dry_run_deals(["hubspot"])}
    assert names == {"7": ("Acme renamed", again), "8": ("Acme — licenties", dry)}

    run(store, "apply")
    assert store.reads.dry_run_deals() == [], "an applying run is newer: its snapshot is what counts"
