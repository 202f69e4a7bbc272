"""The database's life: retention purge, online backup and restore, startup integrity check."""

from __future__ import annotations

import logging
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, select
from sqlmodel import Session

from gateway.storage.engine import StorageError, translated
from gateway.storage.tables import ENTRIES, OUTBOX

log = logging.getLogger(__name__)

_SIDE_FILES = ("-wal", "-shm")


def purge_synced(session: Session, *, before: datetime) -> int:
    """Delete synced entries (none in the outbox) that occurred before `before`. Unsynced
    entries are never touched."""
    waiting = select(OUTBOX.c.seq).where(OUTBOX.c.seq == ENTRIES.c.seq)
    result = session.execute(
        delete(ENTRIES).where(ENTRIES.c.occurred_at < before, ~waiting.exists())
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class FileCheck:
    """What a read-only look at a database file found."""

    problems: list[str]  # SQLite's quick check: ["ok"] when intact
    schema: str | None  # the schema revision; None: no schema yet


def check_file(database: Path) -> FileCheck:
    """Quick-check a database file read-only and read its schema revision."""
    with translated("quick check"):
        connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            problems = [str(row[0]) for row in connection.execute("PRAGMA quick_check")]
            return FileCheck(problems, _schema_revision(connection))
        finally:
            connection.close()


def _schema_revision(connection: sqlite3.Connection) -> str | None:
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise
    return None if row is None else str(row[0])


def backup(database: Path, destination: Path) -> None:
    """A consistent copy of a live database (SQLite's online backup API), safe while it runs."""
    with translated("backup"):
        _backup(database, destination)


def _backup(database: Path, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        target = sqlite3.connect(partial)
        try:
            source.backup(target)
            _require_intact(target, partial)
        finally:
            target.close()
    finally:
        source.close()
    partial.replace(destination)


def restore(backup_file: Path, database: Path) -> Path | None:
    """Put a backup in place of the database (the service must be stopped).

    The database being replaced is kept beside it, renamed; returns that path (None if there
    was no database).
    """
    with translated("checking the backup"):
        checked = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
        try:
            _require_intact(checked, backup_file)
        finally:
            checked.close()
    kept = _move_aside(database, "replaced") if database.exists() else None
    shutil.copyfile(backup_file, database)
    return kept


@dataclass(frozen=True, slots=True)
class IntegrityReport:
    ok: bool
    detail: str
    quarantined: Path | None = None
    salvaged: int = 0


def check_at_startup(database: Path) -> IntegrityReport:
    """Check the database before use. A damaged file is kept aside under a new name, and the
    entries that can still be read are returned for re-recording into a fresh database."""
    if not database.exists():
        return IntegrityReport(ok=True, detail="new database")
    problem = _integrity_problem(database)
    if problem is None:
        return IntegrityReport(ok=True, detail="ok")
    kept = _move_aside(database, "damaged")
    log.error(
        "database %s is damaged (%s); kept as %s, starting a new one", database, problem, kept
    )
    return IntegrityReport(ok=False, detail=problem, quarantined=kept)


@dataclass(frozen=True, slots=True)
class Salvage:
    """What could still be read from a damaged database."""

    rows: list[dict[str, object]]
    highest_seq: int  # the highest sequence number the damaged file shows was handed out
    synced: frozenset[int] = frozenset()  # seqs of the rows known to be synced there


def salvage(damaged: Path) -> Salvage:
    """Every entry row that can still be read from a damaged database, and its seq counter."""
    rows: list[dict[str, object]] = []
    highest = 0
    try:
        connection = sqlite3.connect(f"file:{damaged}?mode=ro", uri=True)
    except sqlite3.Error:
        return Salvage(rows, highest)
    connection.row_factory = sqlite3.Row
    try:
        # A plain table scan: it does not depend on an index that may be the damaged part.
        for row in connection.execute("SELECT * FROM entries"):
            rows.append(dict(row))
    except sqlite3.Error as exc:
        log.error("salvage of %s stopped after %s entries: %s", damaged, len(rows), exc)
    for query in (
        "SELECT value FROM counters WHERE name = 'entry_seq'",
        "SELECT max(seq) FROM entries",
    ):
        try:
            value = connection.execute(query).fetchone()
        except sqlite3.Error:
            continue
        if value and value[0] is not None:
            highest = max(highest, int(value[0]))
    synced = _synced_seqs(connection, rows)
    connection.close()
    rows.sort(key=lambda row: int(str(row["seq"])))
    highest = max([highest, *(int(str(row["seq"])) for row in rows)])
    return Salvage(rows, highest, synced)


def _synced_seqs(connection: sqlite3.Connection, rows: list[dict[str, object]]) -> frozenset[int]:
    """The rows known to be synced: marked so (schemas before 0005), or absent from a readable
    outbox. When in doubt an entry counts as unsynced: sending it again is harmless."""
    seqs = {int(str(row["seq"])) for row in rows}
    if rows and "synced_at" in rows[0]:
        return frozenset(int(str(r["seq"])) for r in rows if r["synced_at"] is not None)
    try:
        waiting = {int(seq) for (seq,) in connection.execute("SELECT seq FROM outbox")}
    except sqlite3.Error:
        return frozenset()
    return frozenset(seqs - waiting)


def _integrity_problem(database: Path) -> str | None:
    try:
        connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            result = connection.execute("PRAGMA quick_check").fetchall()
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    messages = [str(row[0]) for row in result]
    return None if messages == ["ok"] else "; ".join(messages[:5])


def _require_intact(connection: sqlite3.Connection, path: Path) -> None:
    result = [row[0] for row in connection.execute("PRAGMA integrity_check").fetchall()]
    if result != ["ok"]:
        raise StorageError(f"{path}: integrity check failed: {'; '.join(result[:5])}")


def _move_aside(database: Path, why: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    kept = database.with_name(f"{database.name}.{why}-{stamp}")
    database.replace(kept)
    for suffix in _SIDE_FILES:
        side = database.with_name(database.name + suffix)
        if side.exists():
            side.replace(kept.with_name(kept.name + suffix))
    return kept
