"""What the store can hold: a deal with a value it cannot keep is quarantined alone, never the whole page.

SQLite takes almost anything; PostgreSQL refuses a NUL byte in text and a value longer than its column, and an
INSERT naming one row twice. Checked here, before the store sees a page, both behave the same:

- a NUL byte or a lone surrogate in any text but an id is replaced by U+FFFD (the rest is kept);
- an id (deal, pipeline, stage, owner) over 200 characters or with a NUL byte, or a category over 100,
  quarantines that deal;
- a deal listed twice in one chunk of the listing keeps its last version.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from crmsync.model import Deal, Owner, Pipeline, Stage

ID_MAX = 200
CATEGORY_MAX = 100
REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def problem(deal: Deal) -> str | None:
    """Why the store cannot hold `deal`, or None."""
    owner = deal.owner
    source_id, pipeline, stage, owner_id = deal.source_id, deal.pipeline.id, deal.stage.id, owner.id if owner else ""
    category = deal.remote_category
    if (  # the common case in one search and one comparison; the field at fault is named below
        _UNSTORABLE.search(source_id + pipeline + stage + owner_id) is None
        and max(len(source_id), len(pipeline), len(stage), len(owner_id)) <= ID_MAX
        and (category is None or len(category) <= CATEGORY_MAX)
    ):
        return None
    ids = {"source_id": source_id, "pipeline": pipeline, "stage": stage, "owner": owner_id}
    for field, value in ids.items():
        if clean_text(value) != value:
            return f"{field}: an id with a NUL byte or a lone surrogate"
        if len(value) > ID_MAX:
            return f"{field}: an id of {len(value)} characters (the store keeps at most {ID_MAX})"
    if category is not None and len(category) > CATEGORY_MAX:
        return f"remote_category: {len(category)} characters (at most {CATEGORY_MAX})"
    return None


def clean_text(text: str) -> str:
    """`text` as a database can hold it: NUL bytes and lone surrogates (invalid JSON escapes such as \\ud800)
    become U+FFFD; any other text is returned as it is."""
    return _UNSTORABLE.sub(REPLACEMENT, text)


def _cleaned(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {key: _cleaned(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_cleaned(item) for item in value]
    return value


_CLEAN_PARTS: dict[int, BaseModel] = {}  # id → a shared part found clean (kept, so its id is not reused)
_SHARED = (Pipeline, Stage, Owner)  # parts deals share: the reference's own objects (`Reference.owner_of`)
_ATOMS = frozenset({type(None), bool, int, float, Decimal, datetime, date})  # values that hold no text


def _unstorable(deal: Deal) -> bool:
    """Whether any text of `deal` (its fields, its pipeline's, stage's and owner's, its `extra`) needs `clean_text`:
    the texts are gathered without a call per field and searched at once. A pipeline or stage object found clean
    is not read again for the next deal that shares it."""
    texts: list[str] = []
    shared: list[BaseModel] = []
    stack: list[Any] = [deal.__dict__]
    for fields in stack:  # grows while it is read: nested models and mappings are read in turn
        for value in fields.values() if isinstance(fields, dict) else fields:
            if type(value) in _ATOMS:  # most fields: one set look-up instead of three isinstance checks
                continue
            if isinstance(value, str):
                texts.append(value)
            elif isinstance(value, BaseModel):
                if _CLEAN_PARTS.get(id(value)) is not value:
                    stack.append(value.__dict__)
                    if isinstance(value, _SHARED):
                        shared.append(value)
            elif isinstance(value, dict | list | tuple):
                stack.append(value)
    if _UNSTORABLE.search("\x1f".join(texts)) is not None:
        return True
    if len(_CLEAN_PARTS) > 4096:
        _CLEAN_PARTS.clear()
    for part in shared:
        _CLEAN_PARTS[id(part)] = part
    return False


def without_nul(deal: Deal) -> Deal:
    """`deal` with text the store cannot hold replaced by U+FFFD (the same object when there is none)."""
    if not _unstorable(deal):  # the common case, checked without dumping the deal
        return deal
    dumped = deal.model_dump()
    cleaned = _cleaned(dumped)
    return deal if cleaned == dumped else Deal.model_validate(cleaned)


def last_versions(deals: list[Deal]) -> list[Deal]:
    """One deal per id: the last version listed, in the order ids first appeared."""
    return list({deal.source_id: deal for deal in deals}.values())
