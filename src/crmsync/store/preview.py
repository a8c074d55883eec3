"""Preview: the deals and forecasts of a connection's latest dry run (`dry_run_deals`).

A dry run keeps no snapshot, so that the next real run sees the deals as the last real run left them. Without
a copy somewhere, a connection with `writeback = "dry-run"` would have no deal in any report. Its dry runs
therefore upsert what they read and evaluated here; the report shows those rows, marked as a dry run, as long
as no applying run of the connection is newer (see `Reads.dry_run_deals`).
"""

from __future__ import annotations

from collections.abc import Sequence

from crmsync.model import Deal, Forecast
from crmsync.store import schema as t
from crmsync.store.base import StoreBase, utcnow
from crmsync.store.snapshot import _deal_row

_COLUMNS = frozenset(column.name for column in t.dry_run_deals.columns)


class Preview:
    """The dry_run_deals table."""

    def __init__(self, db: StoreBase) -> None:
        self.db = db

    def save_preview(self, run_id: int, pairs: Sequence[tuple[Deal, Forecast]]) -> int:
        """Upsert what a dry run read and evaluated (one chunk); returns the number of rows."""
        if not pairs:
            return 0
        now = utcnow()
        rows = []
        for deal, forecast in pairs:
            row = {key: value for key, value in _deal_row(deal, run_id, now).items() if key in _COLUMNS}
            row.update(
                run_id=run_id,
                category=forecast.category.value,
                probability=forecast.probability,
                rule_ids=list(forecast.rule_ids),
                flags=list(forecast.flags),
                at=now,
            )
            rows.append(row)
        with self.db.tx() as conn:
            self.db.upsert(t.dry_run_deals, ["connection", "source_id"], rows, conn)
        return len(rows)
