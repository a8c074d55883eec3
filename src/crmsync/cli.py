"""The `crmsync` command line (typer + rich).

Exit codes: 0 ok, 1 some records or writes failed, 2 configuration error, 3 authentication or connection error.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from crmsync import logs, machine
from crmsync.app import App, ConnectionOutcome
from crmsync.cli_common import (
    EXIT_CONFIG,
    EXIT_CONNECTION,
    EXIT_OK,
    EXIT_PARTIAL,
    ConfigOption,
    FormatOption,
    check_format,
    fail,
    opened_app,
    print_version,
    run_async,
    state,
)
from crmsync.cli_report import report, simulate
from crmsync.cli_service import HostOption, PortOption, enqueue, schedule, serve, start_ops, status, worker
from crmsync.errors import AuthError, ConfigError, CrmsyncError, LockedError, TransportError
from crmsync.registry import Registry, discover
from crmsync.render import console, errors, ledger_table, print_outcomes, print_plan, progress_bar

cli = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
cli.command()(report)
cli.command()(simulate)
for command in (worker, schedule, serve, status):
    cli.command()(command)
T = TypeVar("T")


@cli.callback()
def main_options(
    log_format: Annotated[str, typer.Option("--log-format", help="text or json")] = "text",
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning or error")] = "warning",
    config: ConfigOption = None,
    version: Annotated[
        bool, typer.Option("--version", callback=print_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    """crmsync keeps the sales forecast honest across several CRMs."""
    if log_format not in ("text", "json"):
        errors.print(f"--log-format must be 'text' or 'json', not {log_format!r}")
        raise typer.Exit(EXIT_CONFIG)
    if log_level.lower() not in ("debug", "info", "warning", "error"):
        errors.print(f"--log-level must be debug, info, warning or error, not {log_level!r}")
        raise typer.Exit(EXIT_CONFIG)
    state.config_path = config or Path(os.environ.get("CRMSYNC_CONFIG", "crmsync.toml"))
    logs.configure(log_format, log_level)


@cli.command()
def connectors() -> None:
    """List installed connectors with version and capabilities; broken ones are shown with their error."""
    table = Table(title="Installed connectors")
    for column in (
        "name",
        "distribution",
        "version",
        "page",
        "write batch",
        "rate limit",
        "incremental",
        "manual overrides",
        "status",
    ):
        table.add_column(column)
    infos = discover()
    for name, info in sorted(infos.items()):
        if info.cls is None:
            table.add_row(
                name,
                info.distribution or "-",
                info.version or "-",
                "",
                "",
                "",
                "",
                "",
                f"[red]failed to load: {info.error}[/]",
            )
            continue
        caps = info.cls.capabilities
        rate = f"{caps.rate_limit_requests}/{caps.rate_limit_window_seconds:g}s" if caps.rate_limit_requests else "-"
        table.add_row(
            name,
            info.distribution or "-",
            info.version or "-",
            str(caps.page_size),
            str(caps.write_batch_size),
            rate,
            "yes" if caps.incremental else "no",
            "API" if caps.detects_manual_override else "ledger",
            "[green]ok[/]",
        )
    console.print(table)
    if not infos:
        console.print("No connectors installed. Install crmsync-hubspot, crmsync-pipedrive, ...")


@cli.command()
def check(
    connection: Annotated[list[str] | None, typer.Option("--connection", "-n", help="only these connections")] = None,
) -> None:
    """Validate config and mappings, reach every CRM, and list unmapped stages."""
    worst = EXIT_OK
    with opened_app() as app:
        names = app.names(connection)
        app.validate(names)
        for name in names:
            report = asyncio.run(app.check(name))
            if report.error is not None:
                errors.print(f"[red]✗ {escape(name)}[/]: {escape(str(report.error))}", highlight=False)
                worst = max(worst, EXIT_CONNECTION if isinstance(report.error, AuthError | TransportError) else 1)
                continue
            console.print(f"[green]✓ {escape(name)}[/]: reached the CRM", highlight=False)
            for problem in report.problems:
                console.print(f"  [red]problem:[/] {escape(problem)}", highlight=False)
                worst = max(worst, EXIT_CONFIG)
            for stage in report.unmapped_stages:
                console.print(
                    f"  [yellow]unmapped stage:[/] {escape(stage)} (CRM's own probability used, nothing written)",
                    highlight=False,
                )
    raise typer.Exit(worst)


def _exit_code(outcomes: list[ConnectionOutcome]) -> int:
    code = EXIT_OK
    for outcome in outcomes:
        if outcome.error is not None:
            error = outcome.error
            code = max(
                code,
                EXIT_CONNECTION
                if isinstance(error, AuthError | TransportError)
                else EXIT_CONFIG
                if isinstance(error, ConfigError)
                else 1,
            )
        elif outcome.result is not None and (outcome.result.failed or outcome.result.quarantined):
            code = max(code, EXIT_PARTIAL)
    return code


@cli.command()
def sync(
    connection: Annotated[list[str] | None, typer.Option("--connection", "-n", help="only these connections")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="plan and print, write nothing to the CRMs")] = False,
    full: Annotated[bool, typer.Option("--full", help="re-read every deal, not only changed ones")] = False,
    fmt: FormatOption = "terminal",
    queued: Annotated[bool, typer.Option("--enqueue", help="queue the syncs for `crmsync worker` instead")] = False,
) -> None:
    """Sync connections now: fetch, evaluate the rules, write back what differs."""
    check_format(fmt)
    if queued and dry_run:
        errors.print("--enqueue runs real syncs on the workers; a --dry-run runs here, without --enqueue")
        raise typer.Exit(EXIT_CONFIG)
    with opened_app(secrets=not queued) as app:
        names = app.names(connection)
        if queued:
            enqueue(app, names, full)
            return
        app.validate(names)
        with progress_bar(errors.is_terminal and fmt == "terminal") as on_progress:
            outcomes = run_async(lambda: app.sync(names, dry_run=dry_run, full=full, on_progress=on_progress))
        if fmt == "json":
            document: dict[str, Any] = {"runs": [machine.outcome_data(o) for o in outcomes]}
            if dry_run:
                document["plans"] = [_plan_data(app, o.connection, o.result.run_id) for o in outcomes if o.result]
            console.print(machine.dumps(document), markup=False, highlight=False, soft_wrap=True)
        else:
            print_outcomes(outcomes, app)
            if dry_run:
                for outcome in outcomes:
                    if (done := outcome.result) is not None:
                        print_plan(app, done.run_id, _plan_data(app, outcome.connection, done.run_id))
    raise typer.Exit(_exit_code(outcomes))


def _plan_data(app: App, connection: str, run_id: int) -> dict[str, Any]:
    rows = app.store.ledger(run_id)
    names = app.store.reads.deal_names(connection, [r["source_id"] for r in rows])
    summary = machine.plan_summary(connection, rows, names)
    return {"run_id": run_id, "summary": summary, "rows": machine.ledger_data(rows, names)}


@cli.command("run")
def run_scheduler(
    engine: Annotated[
        str, typer.Option("--engine", help="embedded (APScheduler, one process) or procrastinate (= `schedule`)")
    ] = "embedded",
    host: HostOption = "127.0.0.1",
    http_port: PortOption = None,
) -> None:
    """Run the embedded scheduler: each connection on its cron, until SIGTERM or Ctrl-C."""
    from crmsync.scheduler import Scheduler

    if engine not in ("embedded", "procrastinate"):
        errors.print(f"--engine must be embedded or procrastinate, not {engine!r}")
        raise typer.Exit(EXIT_CONFIG)
    if engine == "procrastinate":
        schedule(host, http_port)
        return
    with opened_app() as app:
        scheduler = Scheduler(app)
        ops = start_ops(app, host, http_port)
        try:
            console.print(f"crmsync scheduler: {len(app.names())} connection(s); stop with Ctrl-C or SIGTERM")
            scheduler.serve_forever()
        except LockedError as exc:
            errors.print(
                f"[red]refusing to start:[/] another `crmsync run` uses this store ({escape(str(exc))})",
                highlight=False,
            )
            raise typer.Exit(EXIT_PARTIAL) from None
        finally:
            if ops is not None:
                ops.stop()  # type: ignore[attr-defined]


@cli.command()
def history(
    connection: Annotated[str | None, typer.Option("--connection", "-n")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 20,
    fmt: FormatOption = "terminal",
) -> None:
    """Recent runs with their counts."""
    check_format(fmt)
    with opened_app(secrets=False) as app:
        if fmt == "json":
            runs = [machine.run_data(run) for run in app.store.runs(connection, limit)]
            console.print(machine.dumps({"runs": runs}), markup=False, highlight=False, soft_wrap=True)
            return
        table = Table(title="Runs")
        for column in (
            "run",
            "connection",
            "kind",
            "mode",
            "status",
            "started",
            "trigger",
            "fetched",
            "written",
            "skipped",
            "failed",
            "error",
        ):
            table.add_column(column)
        for run in app.store.runs(connection, limit):
            table.add_row(
                str(run["id"]),
                run["connection"],
                run["kind"] + (f" of {run['rollback_of']}" if run["rollback_of"] else ""),
                run["mode"],
                run["status"],
                f"{run['started_at']:%Y-%m-%d %H:%M:%S}",
                run["trigger"] or "-",
                str(run["fetched"]),
                str(run["written"]),
                str(run["skipped"]),
                str(run["failed"]),
                (run["error"] or "")[:80],
            )
        console.print(table)


@cli.command()
def ledger(
    run: Annotated[int, typer.Argument(help="run id, from `crmsync history`")],
    fmt: FormatOption = "terminal",
) -> None:
    """Every write a run made or planned: deal, field, old and new value, outcome and reason."""
    check_format(fmt)
    with opened_app(secrets=False) as app:
        found = app.store.run(run)
        if found is None:
            errors.print(f"no run {run} in the store")
            raise typer.Exit(EXIT_PARTIAL)
        rows = app.store.ledger(run)
        if fmt == "json":
            names = app.store.reads.deal_names(found["connection"], [r["source_id"] for r in rows])
            document = {"run": machine.run_data(found), "rows": machine.ledger_data(rows, names)}
            console.print(machine.dumps(document), markup=False, highlight=False, soft_wrap=True)
            return
        console.print(ledger_table(rows, f"Ledger of run {run}"))


@cli.command()
def rollback(
    run: Annotated[int, typer.Argument(help="the run whose writes to undo")],
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show what would be restored, change nothing")] = False,
) -> None:
    """Restore the values a run overwrote (fields written again later are left alone)."""
    from crmsync.sync import rollback as do_rollback
    from crmsync.sync.rollback import preview

    with opened_app(secrets=not dry_run) as app:
        original = app.store.run(run)
        if original is None:
            errors.print(f"no run {run} in the store")
            raise typer.Exit(EXIT_PARTIAL)
        if original["mode"] != "apply" or not original["written"]:
            why = "a dry run, which wrote nothing" if original["mode"] != "apply" else "a run that wrote nothing"
            errors.print(f"run {run} is {why}: there is nothing to roll back")
            raise typer.Exit(EXIT_PARTIAL)
        rows = preview(app.store, run)
        restore = sum(1 for r in rows if r.outcome == "pending")
        title = f"Rollback of run {run}: {restore} field(s) to restore"
        console.print(ledger_table([r._asdict() for r in rows], title, "now", "restored"))
        if dry_run:
            raise typer.Exit(EXIT_OK)
        if not yes and not typer.confirm(f"Restore {original['written']} deal(s) of {original['connection']}?"):
            raise typer.Exit(EXIT_OK)

        async def go() -> Any:
            async with app.connector(original["connection"]) as connector:
                return await do_rollback(app.store, connector, run)

        result = run_async(go)
        console.print(
            f"rollback run {result.run_id}: {result.written} deal(s) restored, {result.skipped} left "
            f"as they were, {result.failed} failed"
        )
    raise typer.Exit(EXIT_PARTIAL if result.failed else EXIT_OK)


@cli.command()
def sandbox(
    connector: Annotated[list[str] | None, typer.Argument(help="connectors to serve (default: all)")] = None,
    port: Annotated[int, typer.Option("--port", help="first port; 0 picks free ports")] = 0,
    deals: Annotated[int, typer.Option("--deals", help="deals to seed per sandbox")] = 60,
    seed: Annotated[int, typer.Option("--seed", help="seed of the generated data")] = 7,
) -> None:
    """Serve the CRM sandboxes on loopback until interrupted; print their URLs and credentials."""
    from crmsync.sandbox import serve

    registry = Registry()
    names = connector or registry.names()
    servers = []
    try:
        for offset, name in enumerate(names):
            try:
                cls = registry.get(name)
            except CrmsyncError as exc:
                raise fail(exc) from None
            box = cls.sandbox(deals=deals, seed=seed)
            if box is None:
                errors.print(f"{name} has no sandbox")
                continue
            server = serve(box.app(), port=port + offset if port else 0)
            servers.append(server)
            settings = box.settings(server.base_url)
            # the URL to configure: with the API prefix (Simplicate /api/v2, AFAS /ProfitRestServices)
            console.print(f"[bold]{name}[/]  {settings.get('base_url', server.base_url)}", highlight=False)
            for key, value in settings.items():
                if key != "base_url":
                    console.print(f"    {key} = {value}", highlight=False)
        console.print("Serving; Ctrl-C stops.")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        for server in servers:
            server.stop()


@cli.command()
def demo(
    deals: Annotated[int, typer.Option("--deals", help="deals per sandbox")] = 60,
    keep: Annotated[
        Path | None, typer.Option("--dir", help="directory for the demo's config, store and report")
    ] = None,
) -> None:
    """Start every sandbox, sync them into a fresh SQLite store, show what was written and the forecast."""
    from crmsync.demo import run_demo

    try:
        run_demo(console, deals=deals, directory=keep)
    except CrmsyncError as exc:
        raise fail(exc) from None


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
