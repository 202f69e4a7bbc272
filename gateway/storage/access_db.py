"""The web's accounts, sessions and audit log in a database the gateway's migrations do not
manage: a collector's (SQLite or PostgreSQL). The tables are the gateway's own (migration 0003)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine
from sqlmodel import Session, SQLModel

from gateway.storage.engine import translated
from gateway.storage.tables import AuditRow, UserRow, WebSessionRow

_TABLES = (UserRow, WebSessionRow, AuditRow)


class AccessDatabase:
    """Creates the three tables if missing; one short transaction per use."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @classmethod
    def open(cls, url: str) -> AccessDatabase:
        # Errors may be logged: keep values (password hashes) out of their messages.
        engine = create_engine(url, hide_parameters=True, pool_pre_ping=True)
        with translated("creating the accounts tables"):
            SQLModel.metadata.create_all(
                engine, tables=[SQLModel.metadata.tables[table.__tablename__] for table in _TABLES]
            )
        return cls(engine)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: committed on success, rolled back on any error."""
        with (
            translated("the accounts database"),
            Session(self._engine, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session

    def close(self) -> None:
        self._engine.dispose()
