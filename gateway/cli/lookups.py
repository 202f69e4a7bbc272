"""`checkpoint trace | contacts | absent`: who went in and out, on any gateway or collector
database. Every lookup is written to that database's audit log: who, when, whom
(pseudonym) and why; a lookup of a person needs a reason."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.cli.codes import code_holder
from gateway.cli.common import fail
from gateway.core.lookups import (
    DEFAULT_OUT_HOURS,
    DEFAULT_WINDOW_MIN,
    Absence,
    Contact,
    LookupFailed,
    Passage,
    columns,
    plain,
)
from gateway.service.spreadsheets import write_csv, write_xlsx
from gateway.storage.access_db import AccessDatabase
from gateway.storage.audit import add_audit
from gateway.storage.lookups import Lookups
from gateway.storage.records import database_url

_DEFAULT_DAYS = 14

Database = Annotated[
    str | None,
    typer.Option(help="a gateway or collector database URL or SQLite path (default: the config's)"),
]
Config = Annotated[Path | None, typer.Option("--config", "-c", help="config file")]
Code = Annotated[
    str | None,
    typer.Option("--code", help="the person's code as scanned; turned into their pseudonym"),
]
Subject = Annotated[str | None, typer.Option("--subject", help="the person's pseudonym")]
EntryId = Annotated[
    str | None, typer.Option("--entry", help="an entry id: the person that entry names")
]
From = Annotated[
    str | None, typer.Option("--from", help=f"first day, YYYY-MM-DD (default {_DEFAULT_DAYS} back)")
]
To = Annotated[str | None, typer.Option("--to", help="last day, YYYY-MM-DD (default today)")]
Reason = Annotated[str, typer.Option("--reason", help="why this person is looked up (audited)")]
By = Annotated[str | None, typer.Option("--by", help="who looks (default: the login name)")]
Format = Annotated[str, typer.Option("--format", help="table, csv or xlsx")]
Output = Annotated[Path | None, typer.Option("--output", "-o", help="file to write")]
Trust = Annotated[Path | None, typer.Option("--trust", help="trust list to read --code with")]
Secret = Annotated[
    Path | None, typer.Option("--secret-file", help="site secret to read a health code with")
]


def register(app: typer.Typer) -> None:
    app.command("trace")(trace)
    app.command("contacts")(contacts)
    app.command("absent")(absent)


def trace(
    reason: Reason,
    code: Code = None,
    subject: Subject = None,
    entry: EntryId = None,
    date_from: From = None,
    date_to: To = None,
    by: By = None,
    fmt: Format = "table",
    output: Output = None,
    database: Database = None,
    trust: Trust = None,
    secret_file: Secret = None,
    config: Config = None,
) -> None:
    """Every passage of one person at every gate, as a timeline."""
    _check_output(fmt, output)
    _check_reason(reason)
    url = _url(database, config)
    person = _person(url, code, subject, entry, trust, secret_file, config)
    start, end = _span(date_from, date_to)
    passages = _look(url, lambda found: found.trace(person, start, end))
    whom = f"{person} {start.date()}..{end.date()} ({len(passages)})"
    _audit(url, by, "trace", whom, reason, fmt)
    _write(passages, Passage, fmt, output)


def contacts(
    reason: Reason,
    code: Code = None,
    subject: Subject = None,
    entry: EntryId = None,
    date_from: From = None,
    date_to: To = None,
    window_min: Annotated[
        int, typer.Option("--window-min", min=1, max=24 * 60, help="minutes before and after")
    ] = DEFAULT_WINDOW_MIN,
    by: By = None,
    fmt: Format = "table",
    output: Output = None,
    database: Database = None,
    trust: Trust = None,
    secret_file: Secret = None,
    config: Config = None,
) -> None:
    """Everyone who passed the same gate within ±N minutes of one person's passages."""
    _check_output(fmt, output)
    _check_reason(reason)
    url = _url(database, config)
    person = _person(url, code, subject, entry, trust, secret_file, config)
    start, end = _span(date_from, date_to)
    found = _look(url, lambda found: found.contacts(person, start, end, window_min=window_min))
    span = f"{start.date()}..{end.date()} ±{window_min} min"
    _audit(url, by, "contacts", f"{person} {span} ({len(found)})", reason, fmt)
    _write(found, Contact, fmt, output)


def absent(
    days: Annotated[int, typer.Option("--days", min=1, help="not seen for more than N days")] = 3,
    out_hours: Annotated[
        int, typer.Option("--out-hours", min=1, help="last seen going out more than N hours ago")
    ] = DEFAULT_OUT_HOURS,
    reason: Annotated[str, typer.Option("--reason", help="why (audited)")] = "",
    by: By = None,
    fmt: Format = "table",
    output: Output = None,
    database: Database = None,
    config: Config = None,
) -> None:
    """Persons not seen for more than N days, and persons gone out and not back in."""
    _check_output(fmt, output)
    url = _url(database, config)
    now = datetime.now(UTC)
    found = _look(url, lambda found: found.absent(days=days, now=now, out_hours=out_hours))
    whom = f"--days {days} --out-hours {out_hours} ({len(found)})"
    _audit(url, by, "absent", whom, reason, fmt)
    _write(found, Absence, fmt, output)


def _check_output(fmt: str, output: Path | None) -> None:
    if fmt not in ("table", "csv", "xlsx"):
        fail(f"--format must be table, csv or xlsx, not {fmt!r}", 2)
    if fmt == "xlsx" and output is None:
        fail("--format xlsx needs --output FILE", 2)


def _person(
    url: str,
    code: str | None,
    subject: str | None,
    entry: str | None,
    trust: Path | None,
    secret_file: Path | None,
    config: Path | None,
) -> str:
    if sum(given is not None for given in (code, subject, entry)) != 1:
        fail("give exactly one of --code, --subject and --entry", 2)
    if code is not None:
        return code_holder(code, trust=trust, secret_file=secret_file, config=config)
    if entry is not None:
        found = _look(url, lambda lookups: lookups.subject_of(entry.strip()))
        if found is None:
            fail(f"no entry {entry} naming a person", 2)
        return str(found)
    if not (subject or "").strip():
        fail("--subject is empty", 2)
    return (subject or "").strip()


def _span(date_from: str | None, date_to: str | None) -> tuple[datetime, datetime]:
    """UTC days, inclusive: their first and last instants."""
    last = _day(date_to) or datetime.now(UTC).date()
    first = _day(date_from) or last - timedelta(days=_DEFAULT_DAYS)
    if first > last:
        fail("--from is after --to", 2)
    start = datetime.combine(first, time.min, tzinfo=UTC)
    return start, datetime.combine(last, time.max, tzinfo=UTC)


def _day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"not a date (YYYY-MM-DD): {value!r}", 2)


def _url(database: str | None, config: Path | None) -> str:
    if database:
        return database_url(database)
    from gateway.config import config_path, load_settings
    from gateway.core.errors import ConfigError

    try:
        return database_url(load_settings(config_path(config)).storage.path)
    except ConfigError as exc:
        fail(f"configuration error\n{exc}", 2)


def _look(url: str, lookup: Any) -> Any:
    try:
        lookups = Lookups(url)
    except LookupFailed as exc:
        fail(str(exc), 1)
    try:
        return lookup(lookups)
    except LookupFailed as exc:
        fail(str(exc), 1)
    finally:
        lookups.close()


def _check_reason(reason: str) -> None:
    if not reason.strip():
        fail("--reason is required: say why this person is looked up", 2)


def _audit(url: str, by: str | None, action: str, whom: str, reason: str, fmt: str) -> None:
    """Who, when, whom and why, before anything is shown."""
    exported = "" if fmt == "table" else f"; exported {fmt}"
    why = " ".join(reason.split())
    detail = f"{whom}{exported}; reason: {why}" if why else f"{whom}{exported}"
    database = AccessDatabase.open(url)
    try:
        with database.transaction() as session:
            add_audit(
                session,
                at=datetime.now(UTC),
                actor=by or getpass.getuser(),
                role="manager",
                action=action,
                detail=detail,
            )
    finally:
        database.close()


def _write(items: Sequence[Any], kind: type[Any], fmt: str, output: Path | None) -> None:
    names = columns(kind)
    rows = [plain(item) for item in items]
    if fmt == "xlsx" and output is not None:
        write_xlsx(rows, output, names, kind.__name__.lower())
    elif fmt == "csv" and output is not None:
        with output.open("w", newline="", encoding="utf-8-sig") as out:
            write_csv(rows, out, names)
    elif fmt == "csv":
        write_csv(rows, sys.stdout, names)
    else:
        _table(rows, names)
    typer.echo(f"{len(rows)} found", err=True)


def _table(rows: list[dict[str, Any]], names: Sequence[str]) -> None:
    cells = [[str(name) for name in names]]
    cells += [["-" if row[name] is None else str(row[name]) for name in names] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(names))]
    for line in cells:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
