"""SQLModel tables of the gateway database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Index, Integer, LargeBinary, String, Table
from sqlmodel import Field, SQLModel

from gateway.core.entry_sql import entry_columns

ENTRIES = Table(
    "entries",
    SQLModel.metadata,
    *entry_columns(),
    Index("ix_entries_seq", "seq", unique=True),
    Index("ix_entries_decision", "decision"),
    Index("ix_entries_occurred_at", "occurred_at"),
    Index("ix_entries_subject", "subject", "occurred_at"),
)
"""Every entry recorded on this gateway (its columns: `gateway.core.entry_schema`)."""

OUTBOX = Table(
    "outbox",
    SQLModel.metadata,
    Column("seq", Integer, primary_key=True),
    Column("entry_id", String(36), nullable=False),
    Column("revision", Integer, nullable=False, server_default="0"),
    # The entry's wire JSON, written with the entry (or its new revision) and sent as it is.
    Column("wire", LargeBinary, nullable=True),
    Index("ix_outbox_entry_id", "entry_id", unique=True),
)
"""Entries not yet acknowledged by the collector, in the revision waiting to be sent: an
entry is synced when it has no row here.

Written in the entry's transaction; an ack deletes the rows it settles.
"""


class CounterRow(SQLModel, table=True):
    """Named counters that only ever grow (e.g. the entry sequence), surviving purges."""

    __tablename__ = "counters"

    name: str = Field(primary_key=True)
    value: int


class UserRow(SQLModel, table=True):
    """A local account of the web UI: a manager, a technician or the guards' shared PIN."""

    __tablename__ = "users"

    username: str = Field(primary_key=True, max_length=64)
    role: str = Field(index=True)
    secret_hash: str  # argon2id: the password or PIN itself is never stored
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class WebSessionRow(SQLModel, table=True):
    """A signed-in browser. Only a digest of its cookie is stored."""

    __tablename__ = "web_sessions"

    token_digest: str = Field(primary_key=True, max_length=64)
    username: str = Field(max_length=64)
    role: str
    actor: str  # who the session's actions are recorded as (a guard types a name)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, index=True)
    )


class AuditRow(SQLModel, table=True):
    """Who did what through the web UI: exports, overrides and other guard actions, sign-ins."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    actor: str
    role: str
    action: str = Field(index=True)
    entry_id: str | None = Field(default=None, max_length=36)
    detail: str = ""
