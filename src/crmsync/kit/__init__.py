"""The connector kit: what every connector needs and no connector should write again.

- the client, built by `Connector` from its settings, capabilities and `auth_headers()` (`crmsync.connector`);
- body decoding that names the request (`ApiClient.object`, `ApiClient.json`, in `crmsync.http`);
- `RecordReader` for typed, named reads of one raw record, and `trusted_deal` to build the Deal from them
  (`blank_deal` and `typed_deal` for a reader that checks each value's type itself);
- paginators (`CursorPager`, `OffsetPager`, `KeysetPager`, `StampPager`, or `paginator(name)`) with loop detection;
- `write_each` for per-deal writes, with the credentials rule in one place.
"""

from crmsync.kit.paging import (
    PAGINATORS,
    CursorPager,
    KeysetPager,
    OffsetPager,
    Paginator,
    Rescans,
    StampPager,
    paginator,
)
from crmsync.kit.records import RecordReader, iso_date, iso_instant, lookup, read_stage
from crmsync.kit.writes import failed, json_number, skipped, write_each, writeback_values, written
from crmsync.trusted import blank_deal, trusted_deal, trusted_owner, typed_deal

__all__ = [
    "PAGINATORS",
    "CursorPager",
    "KeysetPager",
    "OffsetPager",
    "Paginator",
    "RecordReader",
    "Rescans",
    "StampPager",
    "blank_deal",
    "failed",
    "iso_date",
    "iso_instant",
    "json_number",
    "lookup",
    "paginator",
    "read_stage",
    "skipped",
    "trusted_deal",
    "trusted_owner",
    "typed_deal",
    "write_each",
    "writeback_values",
    "written",
]
