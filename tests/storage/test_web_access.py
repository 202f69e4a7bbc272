"""Accounts, sessions and the audit log in the gateway database (migration 0003)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import inspect

from gateway.storage import accounts, audit
from gateway.storage.store import EntryStore

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def test_the_migration_adds_the_web_tables(tmp_path: Path) -> None:
    store = EntryStore.open(tmp_path / "g.db")
    tables = set(inspect(store.engine).get_table_names())
    assert {"users", "web_sessions", "audit_log", "entries"} <= tables
    store.close()


def test_sessions_expire_and_end_when_the_role_changes(tmp_path: Path) -> None:
    store = EntryStore.open(tmp_path / "g.db")
    with store.transaction() as session:
        accounts.put_account(session, username="m", role="manager", secret_hash="h1", now=NOW)
        account = accounts.get_account(session, username="m")
        assert account is not None
        accounts.add_session(
            session, token_digest="d1", account=account, actor="m", now=NOW,
            expires_at=NOW + timedelta(hours=1),
        )  # fmt: skip
    with store.transaction() as session:
        assert accounts.get_session(session, token_digest="d1", now=NOW) is not None
        assert (
            accounts.get_session(session, token_digest="d1", now=NOW + timedelta(hours=1)) is None
        )
        assert accounts.roles_with_accounts(session) == {"manager"}
        accounts.put_account(session, username="m", role="technician", secret_hash="h2", now=NOW)
        assert accounts.get_session(session, token_digest="d1", now=NOW) is None
        assert accounts.purge_sessions(session, now=NOW + timedelta(hours=2)) == 1


def test_audit_records_come_back_newest_first(tmp_path: Path) -> None:
    store = EntryStore.open(tmp_path / "g.db")
    with store.transaction() as session:
        for n, action in enumerate(("sign-in", "export", "override")):
            audit.add_audit(
                session, at=NOW + timedelta(minutes=n), actor="a", role="guard", action=action
            )
    with store.transaction() as session:
        assert [r.action for r in audit.recent_audit(session, limit=2)] == ["override", "export"]
        (only,) = audit.recent_audit(session, limit=5, action="export")
        assert only.at == NOW + timedelta(minutes=1)
