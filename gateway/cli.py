"""The `checkpoint` command line: the same contracts technicians and managers type."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from sqlalchemy.exc import SQLAlchemyError

from gateway import __version__
from gateway.config import Settings, config_path, load_settings
from gateway.core.errors import CheckpointError, ConfigError

app = typer.Typer(
    help="checkpoint-gateway: scan, verify, decide, record durably and sync at a residential gate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="config file (default: $CHECKPOINT_CONFIG or /etc/checkpoint/gateway.toml)",
    ),
]


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"checkpoint: {message}", err=True)
    raise typer.Exit(code)


def _settings(config: Path | None) -> Settings:
    try:
        return load_settings(config_path(config))
    except ConfigError as exc:
        _fail(f"configuration error\n{exc}", 2)


def _logging(verbose: bool) -> None:
    from gateway.logs import configure

    configure(verbose)


@app.command()
def init(
    config: ConfigOption = None,
    force: Annotated[bool, typer.Option(help="overwrite an existing file")] = False,
) -> None:
    """Write a commented example config file."""
    from gateway.example_config import render_example

    path = config_path(config)
    if path.exists() and not force:
        _fail(f"{path} exists; use --force to overwrite it", 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_example(), encoding="utf-8")
    typer.echo(f"wrote {path}; edit [gate], [[scanners]] and [mqtt], then 'checkpoint run'")


@app.command()
def run(
    config: ConfigOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the gate service (what systemd starts)."""
    settings = _settings(config)
    _logging(verbose)
    from gateway.app import (
        Gateway,
        UnsupportedDevice,
        devices_from_settings,
        install_signal_handlers,
    )
    from gateway.metrics import GatewayMetrics

    metrics = GatewayMetrics()
    try:
        devices = devices_from_settings(settings, observe_decode=metrics.decode.observe)
    except UnsupportedDevice as exc:
        _fail(str(exc), 2)

    async def main() -> None:
        gateway = Gateway(settings, devices, metrics)
        install_signal_handlers(gateway)
        await gateway.run()

    try:
        asyncio.run(main())
    except CheckpointError as exc:
        _fail(str(exc), 1)


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="guard screen port")] = 8080,
    interval: Annotated[float, typer.Option(help="seconds between simulated people")] = 3.0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Simulated scanner and thermal camera, a private broker and collector, live guard screen."""
    from gateway.demo import run_demo

    _logging(verbose)
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

    from gateway.cli_sync import collector_from_settings
    from gateway.export import database_url

    settings = _settings(config)
    _logging(verbose)
    if not settings.mqtt.enabled:
        _fail(f"{config_path(config)}: mqtt.host is empty; the collector needs a broker", 2)
    host, _, port = (web or "").rpartition(":")
    if web is not None and (not host or not port.isdigit() or not 0 < int(port) < 65536):
        _fail(f"--web must be HOST:PORT (e.g. 0.0.0.0:8081), not {web!r}", 2)
    url = database_url(database or settings.collector.database)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    # Each collector needs its own client id: two with one id knock each other off.
    name = instance or f"{socket.gethostname()}-{os.getpid()}"
    worker = collector_from_settings(settings, database=database, instance=name)
    dashboard = None
    if web is not None:
        from gateway.web.collector_app import CollectorDashboard
        from sync.collector_store import create_collector_engine, create_tables

        # The dashboard reads the collector's tables: they exist before it serves.
        engine = create_collector_engine(url)
        create_tables(engine)
        engine.dispose()
        from gateway.cli_codes import code_reader

        dashboard = CollectorDashboard(
            url, host=host, port=int(port), code_holder=code_reader(settings)
        )
        dashboard.start()
    try:
        worker.run(stop)
    finally:
        if dashboard is not None:
            dashboard.stop()


def _parse_day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail(f"not a date (YYYY-MM-DD): {value!r}", 2)


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
    from gateway.export import database_url, iter_rows, write_csv, write_xlsx

    if fmt not in ("csv", "xlsx"):
        _fail(f"--format must be csv or xlsx, not {fmt!r}", 2)
    if fmt == "xlsx" and output is None:
        _fail("--format xlsx needs --output FILE", 2)
    url = database_url(database) if database else database_url(_settings(config).storage.path)
    rows = iter_rows(url, date_from=_parse_day(date_from), date_to=_parse_day(date_to))
    try:
        if output is None:
            count = write_csv(rows, sys.stdout)
        elif fmt == "xlsx":
            count = write_xlsx(rows, output)
        else:
            with output.open("w", newline="", encoding="utf-8") as out:
                count = write_csv(rows, out)
    except (SQLAlchemyError, OSError) as exc:
        _fail(f"cannot export from {url}: {exc}", 1)
    typer.echo(f"exported {count} entries", err=True)


@app.command()
def stats(
    config: ConfigOption = None,
    day: Annotated[str | None, typer.Option(help="YYYY-MM-DD (UTC), default today")] = None,
    database: Annotated[str | None, typer.Option(help="database URL or SQLite path")] = None,
) -> None:
    """One-click statistics for a day."""
    from gateway.export import database_url, day_stats

    url = database_url(database) if database else database_url(_settings(config).storage.path)
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

    database = _settings(config).storage.path
    if not database.exists():
        _fail(f"{database}: no database to back up", 1)
    try:
        backup_database(database, output)
    except (CheckpointError, OSError, sqlite3.Error) as exc:
        _fail(f"backup failed: {exc}", 1)
    typer.echo(f"backed up {database} to {output}")


@app.command()
def restore(
    backup_file: Annotated[Path, typer.Argument(help="a file written by 'checkpoint backup'")],
    config: ConfigOption = None,
) -> None:
    """Put a backup in place of the database. Stop the service first; the replaced database
    is kept beside it."""
    from gateway.storage.lifecycle import restore as restore_database

    database = _settings(config).storage.path
    try:
        kept = restore_database(backup_file, database)
    except (CheckpointError, OSError, sqlite3.Error) as exc:
        _fail(f"restore refused: {exc}", 1)
    typer.echo(f"restored {backup_file} to {database}")
    if kept is not None:
        typer.echo(f"the replaced database is kept as {kept}")


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def _register_commands() -> None:
    from gateway import cli_bundle, cli_codes, cli_lookups, cli_ops, cli_sync

    cli_bundle.register(app)
    cli_codes.register(app)
    cli_lookups.register(app)
    cli_ops.register(app)
    cli_sync.register(app)


def main() -> None:
    _register_commands()
    app(prog_name="checkpoint")
