"""RunResult: the counts of one run, as `crmsync sync`, the scheduler and the runs table show them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from crmsync.store import RunStatus

Mode = Literal["apply", "dry-run"]

COUNTS = (
    "fetched",
    "stored",
    "quarantined",
    "deleted",
    "planned",
    "written",
    "skipped",
    "failed",
    "requests",
    "reevaluated",
    "throttled",
    "deferred",
)


@dataclass
class RunResult:
    """Counts of one run, and what it wrote per category.

    `planned`, `written` and `failed` count deals; `skipped` counts fields left as they were (respected,
    archived, unmapped stage, or refused by the connector); `reevaluated` counts stored deals evaluated again
    on a new day without being fetched.
    """

    run_id: int
    connection: str
    mode: Mode
    status: RunStatus = RunStatus.RUNNING
    fetched: int = 0
    stored: int = 0
    quarantined: int = 0
    deleted: int = 0
    planned: int = 0
    written: int = 0
    skipped: int = 0
    failed: int = 0
    requests: int = 0
    reevaluated: int = 0
    throttled: int = 0  # the CRM's 429 answers (retried; not counted in `requests` twice)
    deferred: int = 0  # deals whose writes wait for the next run (the daily budget share was spent)
    unchanged: int = 0  # listed deals whose only change was crmsync's own write, not taken again (not stored)
    full: bool = False
    written_by_category: Counter[str] = field(default_factory=Counter)
    error: str | None = None

    def counts(self) -> dict[str, int]:
        """The counts the runs table keeps."""
        return {key: getattr(self, key) for key in COUNTS}
