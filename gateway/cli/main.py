"""The `checkpoint` command line: the same contracts technicians and managers type."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer

from gateway import __version__
from gateway.cli.common import ConfigOption, fail, settings_from, setup_logging
from gateway.config import config_path
from gateway.core.errors import CheckpointError

app = typer.Typer(
    help="checkpoint-gateway: scan, verify, decide, record durably and sync at a residential gate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def init(
    config: ConfigOption = None,
    force: Annotated[bool, typer.Option(help="overwrite an existing file")] = False,
) -> None:
    """Write a commented example config file."""
    from gateway.operations.example_config import render_example

    path = config_path(config)
    if path.exists() and not force:
        fail(f"{path} exists; use --force to overwrite it", 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_example(), encoding="utf-8")
    typer.echo(f"wrote {path}; edit [gate], [[scanners]] and [mqtt], then 'checkpoint run'")


@app.command()
def run(
    config: ConfigOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the gate service (what systemd starts)."""
    settings = settings_from(config)
    setup_logging(verbose)
    from gateway.operations.doctor import page_checks
    from gateway.service.metrics import GatewayMetrics
    from gateway.wiring.devices import UnsupportedDevice, devices_from_settings
    from gateway.wiring.gateway import Gateway, install_signal_handlers

    metrics = GatewayMetrics()
    try:
        devices = devices_from_settings(settings, observe_decode=metrics.decode.observe)
    except UnsupportedDevice as exc:
        fail(str(exc), 2)

    async def main() -> None:
        gateway = Gateway(settings, devices, metrics, doctor=page_checks)
        install_signal_handlers(gateway)
        await gateway.run()

    try:
        asyncio.run(main())
    except CheckpointError as exc:
        fail(str(exc), 1)


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="guard screen port")] = 8080,
    interval: Annotated[float, typer.Option(help="seconds between simulated people")] = 3.0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Simulated scanner and thermal camera, a private broker and collector, live guard screen."""
    from gateway.operations.demo import run_demo

    setup_logging(verbose)
    asyncio.run(run_demo(port=port, interval_s=interval))


@app.command()
def collector(
    config: ConfigOption = None,
    database: Annotated[str | None, typer.Option(help="sqlite:///path or postgresql://...")] = None,
    web: Annotated[
        str | None,
        typer.Option(help="also serve the manager dashboard of all gates at HOST:PORT"),
    ] = None,
    instance: Annotated[
        str | None,
        typer.Option(
            help="this collector's name among those sharing the load (default: host name)"
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """The community-server side: subscribe, store, acknowledge; dashboard with --web."""
    import signal
    import socket
    import threading

    from gateway.cli.codes import code_reader
    from gateway.wiring.collector import run_collector

    settings = settings_from(config)
    setup_logging(verbose)
    if not settings.mqtt.enabled:
        fail(f"{config_path(config)}: mqtt.host is empty; the collector needs a broker", 2)
    host, _, port = (web or "").rpartition(":")
    if web is not None and (not host or not port.isdigit() or not 0 < int(port) < 65536):
        fail(f"--web must be HOST:PORT (e.g. 0.0.0.0:8081), not {web!r}", 2)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    run_collector(
        settings,
        stop,
        database=database,
        # Each collector needs its own client id: two with one id knock each other off.
        instance=instance or f"{socket.gethostname()}-{os.getpid()}",
        web=(host, int(port)) if web is not None else None,
        code_holder=code_reader(settings) if web is not None else None,
    )


def _parse_day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"not a date (YYYY-MM-DD): {value!r}", 2)


@app.command()
def export(
    config: ConfigOption = None,
    date_from: Annotated[str | None, typer.Option("--from", help="first day, YYYY-MM-DD")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="last day, YYYY-MM-DD")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or xlsx")] = "csv",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file to write (csv: default stdout)")
    ] = None,
    database: Annotated[
        str | None, typer.Option(help="a gateway or collector database URL or SQLite path")
    ] = None,
) -> None:
    """Write the entries table, one row per entry, as CSV or XLSX."""
    from gateway.service.spreadsheets import write_csv, write_xlsx
    from gateway.storage.records import database_url, iter_rows

    if fmt not in ("csv", "xlsx"):
        fail(f"--format must be csv or xlsx, not {fmt!r}", 2)
    if fmt == "xlsx" and output is None:
        fail("--format xlsx needs --output FILE", 2)
    url = database_url(database) if database else database_url(settings_from(config).storage.path)
    rows = iter_rows(url, date_from=_parse_day(date_from), date_to=_parse_day(date_to))
    try:
        if output is None:
            count = write_csv(rows, sys.stdout)
        elif fmt == "xlsx":
            count = write_xlsx(rows, output)
        else:
            with output.open("w", newline="", encoding="utf-8") as out:
                count = write_csv(rows, out)
    except (CheckpointError, OSError) as exc:
        fail(f"cannot export from {url}: {exc}", 1)
    typer.echo(f"exported {count} entries", err=True)


@app.command()
def stats(
    config: ConfigOption = None,
    day: Annotated[str | None, typer.Option(help="YYYY-MM-DD (UTC), default today")] = None,
    database: Annotated[str | None, typer.Option(help="database URL or SQLite path")] = None,
) -> None:
    """One-click statistics for a day."""
    from gateway.storage.records import database_url, day_stats

    url = database_url(database) if database else database_url(settings_from(config).storage.path)
    the_day = _parse_day(day) or datetime.now(UTC).date()
    result = day_stats(url, the_day)
    typer.echo(f"{the_day}: {result.total} entries")
    for decision in ("admit", "refer", "deny"):
        typer.echo(f"  {decision:<7} {result.by_decision.get(decision, 0)}")
    typer.echo(f"  in      {result.by_direction.get('in', 0)}")
    typer.echo(f"  out     {result.by_direction.get('out', 0)}")
    typer.echo(f"  fever   {result.fever}")
    typer.echo(f"  red/yellow codes {result.red_or_yellow}")
    for hour in sorted(result.by_hour):
        typer.echo(f"  {hour:02d}:00 {'#' * min(result.by_hour[hour], 60)} {result.by_hour[hour]}")


@app.command()
def backup(
    output: Annotated[Path, typer.Option("--output", "-o", help="backup file to write")],
    config: ConfigOption = None,
) -> None:
    """Copy the live database consistently (SQLite online backup), while the service runs."""
    from gateway.storage.lifecycle import backup as backup_database

    database = settings_from(config).storage.path
    if not database.exists():
        fail(f"{database}: no database to back up", 1)
    try:
        backup_database(database, output)
    except (CheckpointError, OSError) as exc:
        fail(f"backup failed: {exc}", 1)
    typer.echo(f"backed up {database} to {output}")


@app.command()
def restore(
    backup_file: Annotated[Path, typer.Argument(help="a file written by 'checkpoint backup'")],
    config: ConfigOption = None,
) -> None:
    """Put a backup in place of the database. Stop the service first; the replaced database
    is kept beside it."""
    from gateway.storage.lifecycle import restore as restore_database

    database = settings_from(config).storage.path
    try:
        kept = restore_database(backup_file, database)
    except (CheckpointError, OSError) as exc:
        fail(f"restore refused: {exc}", 1)
    typer.echo(f"restored {backup_file} to {database}")
    if kept is not None:
        typer.echo(f"the replaced database is kept as {kept}")


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def _register_commands() -> None:
    from gateway.cli import bundle, codes, lookups, ops, sync

    for commands in (bundle, codes, lookups, ops, sync):
        commands.register(app)


def main() -> None:
    _register_commands()
    app(prog_name="checkpoint")
