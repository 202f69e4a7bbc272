"""An upgrade over a database written by the previous schema keeps every entry and its state."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config

from gateway.core.values import CodeCheck, CodeStatus, Decision, Direction
from gateway.storage.engine import create_sqlite_engine
from gateway.storage.migrate import HEAD, revisions
from gateway.storage.store import EntryStore
from tests.storage.test_store import new_entry

PREVIOUS = "0001"
T0 = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)

# Entries as the 0001 schema holds them: (id, seq, decision, synced_at).
ROWS = [
    ("018f0000-0000-7000-8000-000000000001", 1, "admit", "2026-11-25 06:05:00.000000"),
    ("018f0000-0000-7000-8000-000000000002", 2, "deny", None),
    ("018f0000-0000-7000-8000-000000000003", 3, "refer", None),
]


def _database_at_previous_schema(path: Path) -> None:
    engine = create_sqlite_engine(path)
    config = Config()
    config.set_main_option("script_location", "gateway.storage:migrations")
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, PREVIOUS)
    engine.dispose()
    raw = sqlite3.connect(path)
    with raw:
        for entry_id, seq, decision, synced_at in ROWS:
            raw.execute(
                "INSERT INTO entries (id, seq, gate, site, lane, direction, occurred_at,"
                " clock_synced, boot_id, monotonic_ns, code_format, code_check, code_status,"
                " subject, subject_label, payload_digest, temperature_c, temperature_source,"
                " remeasured, decision, reasons, override_by, override_reason, synced_at)"
                " VALUES (?, ?, 'north-1', 'xiaojiang', '1', 'in', ?, 1, 'boot', ?, 'cp1',"
                " 'valid', 'green', 'subj', '张*华 3-2-501', ?, 36.6, 'ir', 0, ?, ?,"
                " NULL, NULL, ?)",
                (
                    entry_id,
                    seq,
                    f"2026-11-25 06:0{seq}:00.000000",
                    seq * 1000,
                    f"{seq:02x}" * 32,
                    decision,
                    json.dumps([f"reason-{seq}"]),
                    synced_at,
                ),
            )
            if synced_at is None:
                raw.execute("INSERT INTO outbox (seq, entry_id) VALUES (?, ?)", (seq, entry_id))
        raw.execute("INSERT INTO counters (name, value) VALUES ('entry_seq', 3)")
    raw.close()


def _schema_revision(path: Path) -> str:
    raw = sqlite3.connect(path)
    try:
        return str(raw.execute("SELECT version_num FROM alembic_version").fetchone()[0])
    finally:
        raw.close()


def test_previous_schema_is_upgraded_with_entries_intact(tmp_path: Path) -> None:
    path = tmp_path / "gateway.db"
    _database_at_previous_schema(path)
    assert _schema_revision(path) == PREVIOUS

    store = EntryStore.open(path)
    try:
        upgraded = {entry.id: entry for entry in store.recent(limit=10)}
        pending = [entry.id for entry in store.pending(after_seq=0, limit=10)]
        backlog = store.backlog()
    finally:
        store.close()

    assert _schema_revision(path) == revisions()[-1]
    assert sorted(upgraded) == [row[0] for row in ROWS]
    for entry_id, seq, decision, synced_at in ROWS:
        entry = upgraded[entry_id]
        assert entry.seq == seq
        assert entry.decision is Decision(decision)
        assert entry.reasons == (f"reason-{seq}",)
        assert entry.occurred_at == T0.replace(minute=seq)
        assert entry.direction is Direction.IN
        assert entry.code_check is CodeCheck.VALID
        assert entry.code_status is CodeStatus.GREEN
        assert entry.subject_label == "张*华 3-2-501"
        assert entry.payload_digest == f"{seq:02x}" * 32
        assert entry.temperature_c == 36.6
        assert (entry_id in pending) == (synced_at is None)
    assert pending == [ROWS[1][0], ROWS[2][0]]
    assert backlog.count == 2


def test_sequence_continues_after_the_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "gateway.db"
    _database_at_previous_schema(path)
    store = EntryStore.open(path)
    try:
        recorded = store.record(new_entry())
        pending = [entry.seq for entry in store.pending(after_seq=0, limit=10)]
    finally:
        store.close()
    # The counter of the old schema goes on: no number handed out before is reused.
    assert recorded.seq == 4
    assert recorded.revision == 0
    assert pending == [2, 3, 4]


def test_head_is_the_newest_migration() -> None:
    """A database at HEAD opens without Alembic: HEAD must be the newest migration."""
    assert revisions()[-1] == HEAD


def test_a_database_at_head_opens_without_loading_alembic(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    EntryStore.open(path).close()
    probe = (
        "import sys; from pathlib import Path; from gateway.storage.store import EntryStore; "
        f"EntryStore.open(Path({str(path)!r})).close(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert (result.returncode, result.stdout.strip()) == (0, "[]"), result.stderr
