"""The words the store records: ledger outcomes and run statuses, one `StrEnum` each.

They are `str` subclasses, so they compare equal to the text stored in the database and to plain strings.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """What became of one field of one deal in the write ledger.

    Phase 1 of a run records `pending` (to write), `planned` (dry run), `respected` (a person's value left
    alone) or `skipped` (not writable); phase 2 settles each `pending` row as `written`, `skipped` or `failed`.
    A pending row whose run stopped before the CRM answered, or whose request got no answer, becomes `unknown`.
    """

    PENDING = "pending"
    PLANNED = "planned"
    RESPECTED = "respected"
    SKIPPED = "skipped"
    WRITTEN = "written"
    FAILED = "failed"
    UNKNOWN = "unknown"
    DEFERRED = "deferred"  # over the connection's share of the CRM's daily budget: the next run writes it


class RunStatus(StrEnum):
    """How a run stands: running, then ok, partial (some records or writes failed) or failed."""

    RUNNING = "running"
    OK = "ok"
    PARTIAL = "partial"
    FAILED = "failed"

    @classmethod
    def finished(cls) -> tuple[RunStatus, RunStatus]:
        """The statuses of a run that ran to its end."""
        return (cls.OK, cls.PARTIAL)


class RunKind(StrEnum):
    SYNC = "sync"
    ROLLBACK = "rollback"
