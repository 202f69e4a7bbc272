"""Keyword-only data access for web accounts and signed-in sessions.

The caller's session owns the transaction. Hashing is the caller's job: only hashes and
digests reach these functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlmodel import Session, col

from gateway.storage.tables import UserRow, WebSessionRow


@dataclass(frozen=True, slots=True)
class Account:
    username: str
    role: str
    secret_hash: str


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A live session: whose it is and who its actions are recorded as."""

    username: str
    role: str
    actor: str
    expires_at: datetime


def get_account(session: Session, *, username: str) -> Account | None:
    row = session.get(UserRow, username)
    return None if row is None else Account(row.username, row.role, row.secret_hash)


def roles_with_accounts(session: Session) -> set[str]:
    return set(session.execute(select(col(UserRow.role)).distinct()).scalars())


def put_account(
    session: Session, *, username: str, role: str, secret_hash: str, now: datetime
) -> None:
    """Create the account, or give an existing one a new role and secret."""
    row = session.get(UserRow, username)
    if row is None:
        row = UserRow(
            username=username, role=role, secret_hash=secret_hash, created_at=now, updated_at=now
        )
    row.role, row.secret_hash, row.updated_at = role, secret_hash, now
    session.add(row)
    session.flush()


def add_session(
    session: Session,
    *,
    token_digest: str,
    account: Account,
    actor: str,
    now: datetime,
    expires_at: datetime,
) -> SignedIn:
    session.add(
        WebSessionRow(
            token_digest=token_digest,
            username=account.username,
            role=account.role,
            actor=actor,
            created_at=now,
            expires_at=expires_at,
        )
    )
    session.flush()
    return SignedIn(account.username, account.role, actor, expires_at)


def get_session(session: Session, *, token_digest: str, now: datetime) -> SignedIn | None:
    """The unexpired session with this digest, if its account still has the same role."""
    row = session.get(WebSessionRow, token_digest)
    if row is None or _utc(row.expires_at) <= now:
        return None
    user = session.get(UserRow, row.username)
    if user is None or user.role != row.role:
        return None
    return SignedIn(row.username, row.role, row.actor, _utc(row.expires_at))


def delete_session(session: Session, *, token_digest: str) -> None:
    session.execute(delete(WebSessionRow).where(col(WebSessionRow.token_digest) == token_digest))


def delete_sessions_of(session: Session, *, username: str) -> None:
    """Sign an account out everywhere (its secret changed)."""
    session.execute(delete(WebSessionRow).where(col(WebSessionRow.username) == username))


def purge_sessions(session: Session, *, now: datetime) -> int:
    result = session.execute(delete(WebSessionRow).where(col(WebSessionRow.expires_at) <= now))
    return int(result.rowcount)  # type: ignore[attr-defined]


def _utc(value: datetime) -> datetime:
    # SQLite returns naive datetimes; everything we store is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)
