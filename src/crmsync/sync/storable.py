"""What the store can hold: a deal with a value it cannot keep is quarantined alone, never the whole page.

SQLite takes almost anything; PostgreSQL refuses a NUL byte in text and a value longer than its column, and an
INSERT naming one row twice. Checked here, before the store sees a page, both behave the same:

- a NUL byte in any text but an id is replaced by U+FFFD (the explicit replacement; the rest is kept);
- an id (deal, pipeline, stage, owner) over 200 characters or with a NUL byte, or a category over 100,
  quarantines that deal;
- a deal listed twice in one page keeps its last version.
"""

from __future__ import annotations

from crmsync.model import Deal

ID_MAX = 200
CATEGORY_MAX = 100
NUL_JSON = "\\u0000"


def problem(deal: Deal) -> str | None:
    """Why the store cannot hold `deal`, or None."""
    ids = {
        "source_id": deal.source_id,
        "pipeline": deal.pipeline.id,
        "stage": deal.stage.id,
        "owner": deal.owner.id if deal.owner else "",
    }
    for field, value in ids.items():
        if "\x00" in value:
            return f"{field}: an id with a NUL byte"
        if len(value) > ID_MAX:
            return f"{field}: an id of {len(value)} characters (the store keeps at most {ID_MAX})"
    if deal.remote_category is not None and len(deal.remote_category) > CATEGORY_MAX:
        return f"remote_category: {len(deal.remote_category)} characters (at most {CATEGORY_MAX})"
    return None


def without_nul(deal: Deal) -> Deal:
    """`deal` with every NUL byte in its text replaced by U+FFFD (the same deal when it has none)."""
    text = deal.model_dump_json()
    if NUL_JSON not in text:
        return deal
    return Deal.model_validate_json(text.replace(NUL_JSON, "\\ufffd"))


def last_versions(deals: list[Deal]) -> list[Deal]:
    """One deal per id: the last version listed, in the order ids first appeared."""
    return list({deal.source_id: deal for deal in deals}.values())
