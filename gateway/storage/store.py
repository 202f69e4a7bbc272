"""The gateway's entry store: one short transaction per use-case, outbox for sync."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from gateway.core.values import Backlog, Entry, NewEntry
from gateway.storage import entries
from gateway.storage.engine import create_sqlite_engine
from gateway.storage.migrate import upgrade


class EntryStore:
    """Durable entries on SQLite. Implements the `Outbox` port for the sync publisher."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @classmethod
    def open(cls, path: Path) -> EntryStore:
        """Open (and migrate) the database file."""
        engine = create_sqlite_engine(path)
        upgrade(engine)
        return cls(engine)

    @property
    def engine(self) -> Engine:
        return self._engine

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: committed on success, rolled back on any error."""
        with Session(self._engine, expire_on_commit=False) as session, session.begin():
            yield session

    def record(self, entry: NewEntry) -> Entry:
        """Commit the entry and its outbox row together; returns it with its `seq`."""
        with self.transaction() as session:
            return entries.add_entry(session, entry=entry)

    def pending(self, *, after_seq: int, limit: int) -> Sequence[Entry]:
        with self.transaction() as session:
            return entries.pending_entries(session, after_seq=after_seq, limit=limit)

    def mark_synced(self, *, ids: Sequence[str], at: datetime) -> int:
        with self.transaction() as session:
            return entries.mark_synced(session, ids=ids, at=at)

    def backlog(self) -> Backlog:
        with self.transaction() as session:
            return entries.backlog(session)

    def recent(self, *, limit: int = 20) -> list[Entry]:
        with self.transaction() as session:
            return entries.recent_entries(session, limit=limit)

    def close(self) -> None:
        self._engine.dispose()
