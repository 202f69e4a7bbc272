"""The SQLite engine: WAL, synchronous=FULL, checked on every new connection."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from gateway.core.errors import StorageError

__all__ = ["IMMEDIATE", "StorageError", "create_sqlite_engine", "translated"]

_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    # Deleted (purged) entries are overwritten, not left readable in free pages.
    "PRAGMA secure_delete=ON",
    "PRAGMA busy_timeout=10000",
)
_SYNCHRONOUS_FULL = 2
IMMEDIATE = "sqlite_begin_immediate"  # execution option: start write transactions locked


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Raise the driver's errors inside as `StorageError`s that say what was being done."""
    try:
        yield
    except (SQLAlchemyError, sqlite3.Error) as exc:
        detail = exc.orig if isinstance(exc, DBAPIError) else exc
        raise StorageError(f"{what}: {detail}") from exc


def create_sqlite_engine(path: Path) -> Engine:
    """An engine whose every connection is in WAL mode with synchronous=FULL, or refuses."""
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _configure_connection)
    event.listen(engine, "begin", _begin)
    return engine


def _configure_connection(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN itself so a transaction spans our whole unit of work.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _PRAGMAS:
            cursor.execute(pragma)
        journal = cursor.execute("PRAGMA journal_mode").fetchone()[0]
        synchronous = cursor.execute("PRAGMA synchronous").fetchone()[0]
    finally:
        cursor.close()
    if journal != "wal" or synchronous != _SYNCHRONOUS_FULL:
        raise StorageError(
            f"database refuses durable mode (journal_mode={journal}, synchronous={synchronous})"
        )


def _begin(connection: Any) -> None:
    # A write transaction takes the write lock up front (and waits for it, busy_timeout):
    # a read that later upgrades to a write fails at once if another write came between.
    immediate = connection.get_execution_options().get(IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
