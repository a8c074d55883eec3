"""The read-only `crmsync` commands that render the store: `report` and `simulate` (registered in cli.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crmsync.cli_common import EXIT_CONFIG, fail, opened_app
from crmsync.errors import ConfigError
from crmsync.render import console, errors
from crmsync.textsafe import SafeConsole


def report(
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            help="this_month, this_quarter, this_year, last_month, "
            "last_quarter, last_year, 2026, 2026-Q2, 2026-05 or all",
        ),
    ] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="first day, YYYY-MM-DD")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="last day, YYYY-MM-DD")] = None,
    connection: Annotated[list[str] | None, typer.Option("--connection", "-n", help="only these connections")] = None,
    pipeline: Annotated[list[str] | None, typer.Option("--pipeline", help="pipeline id or label")] = None,
    owner: Annotated[list[str] | None, typer.Option("--owner", help="configured owner email or name")] = None,
    team: Annotated[list[str] | None, typer.Option("--team", help="configured team")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="terminal, json, csv or html")] = "terminal",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write to this file")] = None,
) -> None:
    """The unified forecast across every connection, in the base currency."""
    from datetime import date

    from crmsync.report import Filters, build_report, render_terminal, resolve_period, to_csv, to_html, to_json

    if fmt not in ("terminal", "json", "csv", "html"):
        errors.print(f"--format must be terminal, json, csv or html, not {fmt!r}")
        raise typer.Exit(EXIT_CONFIG)
    with opened_app(secrets=False) as app:
        try:
            start = date.fromisoformat(date_from) if date_from else None
            end = date.fromisoformat(date_to) if date_to else None
        except ValueError as exc:
            raise fail(ConfigError(f"--from/--to must be YYYY-MM-DD: {exc}")) from None
        today = app.today()
        chosen = resolve_period(period, today=today, start=start, end=end) if (period or start or end) else None
        filters = Filters(
            connections=frozenset(connection or ()),
            pipelines=frozenset(pipeline or ()),
            owners=frozenset(owner or ()),
            teams=frozenset(team or ()),
        )
        built = build_report(app.store, app.config, period=chosen, filters=filters, today=today)
        if fmt == "terminal" and output is None:
            render_terminal(built, console)
            return
        text = {"json": to_json, "csv": to_csv, "html": to_html}.get(fmt, to_json)(built)
        try:
            if fmt == "terminal" and output is not None:
                with output.open("w", encoding="utf-8") as handle:
                    render_terminal(built, SafeConsole(file=handle, width=140))
            elif output is not None:
                output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise fail(ConfigError(f"cannot write {output}: {exc.strerror}", key="--output")) from None
        if output is None:
            console.print(text, markup=False, highlight=False, soft_wrap=True)
        if output is not None:
            errors.print(f"report written to {output}")


def simulate(
    mapping: Annotated[Path, typer.Option("--mapping", "-m", help="the candidate mapping file")],
    connection: Annotated[
        list[str] | None, typer.Option("--connection", "-n", help="only these connections (default: all it fits)")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="terminal, json or html")] = "terminal",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write to this file")] = None,
) -> None:
    """What a candidate mapping would change: the stored deals evaluated under it, nothing fetched or written."""
    from crmsync.model import DEFAULT_LABELS
    from crmsync.simulate import simulate as run_simulation
    from crmsync.simulate_render import render_terminal, to_html, to_json

    if fmt not in ("terminal", "json", "html"):
        errors.print(f"--format must be terminal, json or html, not {fmt!r}")
        raise typer.Exit(EXIT_CONFIG)
    with opened_app(secrets=False) as app:
        sim = run_simulation(app.store, app.config, mapping, connection or [], app.today())
        labels = {category: app.config.label(category) for category in DEFAULT_LABELS}
        if output is None:
            if fmt == "terminal":
                render_terminal(sim, console, labels)
            else:
                text = to_json(sim) if fmt == "json" else to_html(sim, labels)
                console.print(text, markup=False, highlight=False, soft_wrap=True)
            return
        try:
            with output.open("w", encoding="utf-8") as handle:
                if fmt == "terminal":
                    render_terminal(sim, SafeConsole(file=handle, width=160), labels)
                else:
                    handle.write(to_json(sim) if fmt == "json" else to_html(sim, labels))
        except OSError as exc:
            raise fail(ConfigError(f"cannot write {output}: {exc.strerror}", key="--output")) from None
        errors.print(f"simulation written to {output}")
