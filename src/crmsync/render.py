"""Rich renderers shared by the CLI and the demo: the consoles, sync results, ledger tables and the progress bar.

Kept out of `crmsync.cli` so the demo (which the CLI starts) can print results without importing the CLI back.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from crmsync.model import ForecastCategory
from crmsync.store import RunStatus
from crmsync.textsafe import SafeConsole

if TYPE_CHECKING:
    from crmsync.app import App, ConnectionOutcome

# Piped output (cron mail, CI logs) gets wide tables instead of rich's 80-column default.
console = SafeConsole(width=None if sys.stdout.isatty() else 140)
errors = SafeConsole(stderr=True)


def print_outcomes(outcomes: list[ConnectionOutcome], app: App) -> None:
    table = Table(title="Sync results")
    for column in (
        "connection",
        "run",
        "mode",
        "status",
        "fetched",
        "quarantined",
        "deleted",
        "written",
        "skipped",
        "failed",
        "requests",
    ):
        table.add_column(column, justify="right" if column not in ("connection", "mode", "status") else "left")
    for outcome in outcomes:
        r = outcome.result
        if r is None:
            table.add_row(outcome.connection, "-", "-", "[red]error[/]", "", "", "", "", "", "", "")
            continue
        colour = {RunStatus.OK: "green", RunStatus.PARTIAL: "yellow"}.get(r.status, "red")
        table.add_row(
            outcome.connection,
            str(r.run_id),
            r.mode + (" (full)" if r.full else ""),
            f"[{colour}]{r.status}[/]",
            str(r.fetched),
            str(r.quarantined),
            str(r.deleted),
            str(r.written),
            str(r.skipped),
            str(r.failed),
            str(r.requests),
        )
    console.print(table)
    for outcome in outcomes:
        if outcome.error is not None:
            errors.print(f"[red]{escape(outcome.connection)}[/]: {escape(str(outcome.error))}", highlight=False)
        elif outcome.result is not None and outcome.result.written_by_category:
            parts = ", ".join(
                f"{app.config.label(ForecastCategory(c))}: {n}"
                for c, n in sorted(outcome.result.written_by_category.items())
            )
            console.print(f"  {outcome.connection} wrote categories — {parts}", markup=False, highlight=False)


def ledger_table(rows: list[dict[str, Any]], title: str, old: str = "old", new: str = "new") -> Table:
    """Ledger rows as a table; CRM values and messages are shown as text, never read as rich markup."""
    table = Table(title=title)
    for column in ("deal", "field", old, new, "outcome", "reason"):
        table.add_column(column)
    for row in rows:
        cells = (row["source_id"], row["field"], row["old_value"] or "∅", row["new_value"] or "∅", row["outcome"])
        table.add_row(*(escape(str(cell)) for cell in cells), escape(row["reason"] or ""))
    return table


def print_plan(app: App, run_id: int, plan: dict[str, Any], limit: int = 200) -> None:
    """A dry run's plan: a summary by category with deal names, then the ledger rows (deal names shown)."""
    summary = plan["summary"]
    table = Table(title=f"Plan of {summary['connection']} (run {run_id}): {summary['deals_to_write']} deal(s) to write")
    table.add_column("new category value")
    table.add_column("deals", justify="right")
    table.add_column("for example")
    for value, entry in summary["by_category"].items():
        table.add_row(escape(value or "∅"), str(entry["deals"]), escape(", ".join(entry["examples"])))
    if summary["probability_only"]:
        table.add_row("(probability only)", str(summary["probability_only"]), "")
    for reason, count in summary["left_alone"].items():
        table.add_row(escape(f"left alone — {reason}"), str(count), "")
    console.print(table)
    rows = [{**row, "source_id": f"{row['deal'] or ''} ({row['source_id']})"} for row in plan["rows"]]
    title = f"Plan of run {run_id} (dry run: nothing written)"
    console.print(ledger_table(rows[:limit], title, "remote value", "new value"))
    if len(rows) > limit:
        console.print(f"… and {len(rows) - limit} more; see `crmsync ledger {run_id}`")


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Callable[[str, int], None] | None]:
    if not enabled:
        yield None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed} deals"),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
    ) as progress:
        tasks: dict[str, Any] = {}

        def update(name: str, fetched: int) -> None:
            if name not in tasks:
                tasks[name] = progress.add_task(f"syncing {name}", total=None)
            progress.update(tasks[name], completed=fetched)

        yield update
