"""SQLModel tables of the gateway database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, DateTime
from sqlmodel import Field, SQLModel


class EntryBase(SQLModel):
    """The columns of an entry that leave the gateway (DESIGN section 3)."""

    id: str = Field(primary_key=True, max_length=36)
    seq: int = Field(unique=True, index=True)
    gate: str
    site: str
    lane: str
    direction: str
    occurred_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    clock_synced: bool
    boot_id: str
    monotonic_ns: int
    code_format: str
    code_check: str
    code_status: str
    subject: str | None = None
    subject_label: str | None = None
    payload_digest: str | None = None
    temperature_c: float | None = None
    temperature_source: str | None = None
    remeasured: bool = False
    decision: str = Field(index=True)
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    override_by: str | None = None
    override_reason: str | None = None
    confirmed_by: str | None = None
    revision: int = 0


class EntryRow(EntryBase, table=True):
    """An entry on the gateway; `synced_at` is local only."""

    __tablename__ = "entries"

    synced_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True, index=True)
    )


class OutboxRow(SQLModel, table=True):
    """An entry not yet acknowledged by the collector. Written in the entry's transaction."""

    __tablename__ = "outbox"

    seq: int = Field(primary_key=True)
    entry_id: str = Field(max_length=36)


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
