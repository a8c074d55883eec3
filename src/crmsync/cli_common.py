"""What every `crmsync` command shares: the chosen config file, exit codes, error exits, the opened App."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from crmsync.app import App
from crmsync.config import load_config
from crmsync.errors import AuthError, ConfigError, CrmsyncError, TransportError
from crmsync.render import console, errors

EXIT_OK, EXIT_PARTIAL, EXIT_CONFIG, EXIT_CONNECTION = 0, 1, 2, 3


class State:
    config_path: Path = Path("crmsync.toml")


state = State()

FormatOption = Annotated[str, typer.Option("--format", "-f", help="terminal or json")]


def check_format(fmt: str) -> None:
    if fmt not in ("terminal", "json"):
        errors.print(f"--format must be terminal or json, not {fmt!r}")
        raise typer.Exit(EXIT_CONFIG)


ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="configuration file (default: $CRMSYNC_CONFIG or crmsync.toml)")
]


def print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        console.print(f"crmsync {version('crmsync')}")
        raise typer.Exit(EXIT_OK)


def fail(exc: CrmsyncError) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True, highlight=False)
    if isinstance(exc, ConfigError):
        return typer.Exit(EXIT_CONFIG)
    if isinstance(exc, AuthError | TransportError):
        return typer.Exit(EXIT_CONNECTION)
    return typer.Exit(exc.exit_code)


@contextmanager
def opened_app(secrets: bool = True) -> Iterator[App]:
    """The App of the configured file; `secrets=False` for commands that read only the store."""
    try:
        app = App(load_config(state.config_path, secrets=secrets))
    except CrmsyncError as exc:
        raise fail(exc) from None
    try:
        yield app
    except CrmsyncError as exc:
        raise fail(exc) from None
    finally:
        app.close()


def run_async(factory: Callable[[], Any]) -> Any:
    """Run a coroutine; SIGTERM or Ctrl-C cancel it cleanly (the run is marked failed, its lock released)."""

    async def main() -> Any:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await factory()

    try:
        return asyncio.run(main())
    except (asyncio.CancelledError, KeyboardInterrupt):
        errors.print("interrupted: the run was stopped and its lock released; the next run starts from the last cursor")
        raise typer.Exit(EXIT_PARTIAL) from None
