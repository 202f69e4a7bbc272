"""The gateway's entry store: one short transaction per use-case, outbox for sync."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, text
from sqlmodel import Session

from gateway.core.ports import OutboxItem
from gateway.core.retention import purge_cutoff
from gateway.core.values import Backlog, Direction, Entry, NewEntry
from gateway.storage import entries
from gateway.storage.engine import IMMEDIATE, create_sqlite_engine, translated
from gateway.storage.lifecycle import (
    IntegrityReport,
    check_at_startup,
    purge_synced,
    salvage,
)
from gateway.storage.migrate import upgrade

log = logging.getLogger(__name__)


class EntryStore:
    """Durable entries on SQLite. Implements the `Outbox` port for the sync publisher."""

    def __init__(self, engine: Engine, integrity: IntegrityReport | None = None) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{IMMEDIATE: True})
        self.integrity = integrity or IntegrityReport(ok=True, detail="not checked")

    @classmethod
    def open(cls, path: Path) -> EntryStore:
        """Check, open and migrate the database file.

        A damaged file is kept aside under a new name, a new database is started, and every
        entry still readable from the damaged one is recorded again (unsynced ones stay unsynced).
        """
        report = check_at_startup(path)
        engine = create_sqlite_engine(path)
        with translated(f"opening {path}"):
            upgrade(engine)
        store = cls(engine, report)
        with store.transaction(write=True) as session:
            entries.fill_wire(session)
        if report.quarantined is not None:
            readable = salvage(report.quarantined)
            with store.transaction(write=True) as session:
                salvaged = entries.salvage_rows(
                    session,
                    rows=readable.rows,
                    highest_seq=readable.highest_seq,
                    synced=readable.synced,
                )
            log.warning("recovered %s entries from %s", salvaged, report.quarantined)
            store.integrity = IntegrityReport(
                ok=False, detail=report.detail, quarantined=report.quarantined, salvaged=salvaged
            )
        return store

    @property
    def engine(self) -> Engine:
        return self._engine

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[Session]:
        """One unit of work: committed on success, rolled back on any error.

        A writing unit takes SQLite's write lock when it begins, so concurrent writers
        queue (up to the busy timeout) instead of failing.
        """
        bind = self._writer if write else self._engine
        with (
            translated("the database"),
            Session(bind, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session

    def record(self, entry: NewEntry) -> Entry:
        """Commit the entry and its outbox row together; returns it with its `seq`."""
        with self.transaction(write=True) as session:
            return entries.add_entry(session, entry=entry)

    def admitted_since(self, *, subject: str, direction: Direction, since: datetime) -> bool:
        with self.transaction() as session:
            return entries.admitted_since(
                session, subject=subject, direction=direction, since=since
            )

    def get(self, entry_id: str) -> Entry:
        with self.transaction() as session:
            return entries.get_entry(session, entry_id=entry_id)

    # The publisher's two statements take the shortest way to SQLite: no ORM session on the
    # path every synced entry takes. Reading is one statement, so it needs no transaction.
    def pending(self, *, after_seq: int, limit: int) -> Sequence[OutboxItem]:
        with translated("reading the outbox"):
            connection = self._engine.raw_connection()
            try:
                return entries.pending(connection.cursor(), after_seq=after_seq, limit=limit)
            finally:
                connection.close()

    def mark_synced(self, *, ids: Sequence[str], revisions: Sequence[int] | None = None) -> int:
        with translated("settling an ack"), self._writer.begin() as connection:
            return entries.mark_synced(connection, ids=ids, revisions=revisions)

    def backlog(self) -> Backlog:
        with self.transaction() as session:
            return entries.backlog(session)

    def recent(self, *, limit: int = 20) -> list[Entry]:
        with self.transaction() as session:
            return entries.recent_entries(session, limit=limit)

    def purge(self, *, now: datetime, retention_days: int) -> int:
        """Delete synced entries past retention, then truncate the WAL so they leave the disk."""
        with self.transaction(write=True) as session:
            removed = purge_synced(session, before=purge_cutoff(now, retention_days))
        with translated("truncating the log"), self._engine.connect() as connection:
            connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        if removed:
            log.info("purged %s synced entries older than %s days", removed, retention_days)
        return removed

    def close(self) -> None:
        self._engine.dispose()
