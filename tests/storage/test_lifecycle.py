"""Retention, backup/restore and recovery from a damaged database, on real SQLite files."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.core.retention import DiskLevel, disk_level, purge_cutoff
from gateway.storage.engine import StorageError
from gateway.storage.lifecycle import backup, restore
from gateway.storage.store import EntryStore
from tests.storage.test_store import new_entry

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_cutoff_and_disk_levels() -> None:
    assert purge_cutoff(NOW, 28) == NOW - timedelta(days=28)
    assert disk_level(79, 100) is DiskLevel.OK
    assert disk_level(80, 100) is DiskLevel.WARN
    assert disk_level(95, 100) is DiskLevel.CRITICAL
    assert disk_level(0, 0) is DiskLevel.CRITICAL


def test_purge_removes_only_old_synced_entries(tmp_path: Path) -> None:
    store = EntryStore.open(tmp_path / "g.db")
    old_synced = store.record(new_entry(occurred_at=NOW - timedelta(days=40)))
    old_unsynced = store.record(new_entry(occurred_at=NOW - timedelta(days=400)))
    new_synced = store.record(new_entry(occurred_at=NOW - timedelta(days=1)))
    store.mark_synced(ids=[old_synced.id, new_synced.id])
    assert store.purge(now=NOW, retention_days=28) == 1
    left = {e.id for e in store.recent(limit=10)}
    assert left == {old_unsynced.id, new_synced.id}
    assert store.backlog().count == 1
    # The next entry still gets a fresh number.
    assert store.record(new_entry()).seq == 4


def test_purged_digests_leave_the_files(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    store = EntryStore.open(path)
    digests = [f"{i:02d}" * 32 for i in range(50)]
    ids = [
        store.record(new_entry(payload_digest=d, occurred_at=NOW - timedelta(days=60))).id
        for d in digests
    ]
    store.mark_synced(ids=ids)
    with store.engine.connect() as connection:  # everything into the main file first
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    assert digests[7].encode() in path.read_bytes()
    assert store.purge(now=NOW, retention_days=28) == 50
    store.close()
    files = [path, path.with_name("g.db-wal")]
    content = b"".join(f.read_bytes() for f in files if f.exists())
    assert not any(d.encode() in content for d in digests)


def test_backup_and_restore_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    store = EntryStore.open(path)
    kept = [store.record(new_entry()) for _ in range(5)]
    backup(path, tmp_path / "backups" / "g.backup.db")  # while the store is open
    store.record(new_entry())
    store.close()
    replaced = restore(tmp_path / "backups" / "g.backup.db", path)
    assert replaced is not None and replaced.exists()
    restored = EntryStore.open(path)
    assert [e.id for e in reversed(restored.recent(limit=10))] == [e.id for e in kept]
    assert restored.record(new_entry()).seq == 6


def test_restore_refuses_a_damaged_backup(tmp_path: Path) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"SQLite format 3\x00" + b"\x13" * 4000)
    with pytest.raises((StorageError, sqlite3.DatabaseError)):
        restore(broken, tmp_path / "g.db")
    assert not (tmp_path / "g.db").exists()


def test_damaged_database_is_kept_aside_and_its_entries_recovered(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    store = EntryStore.open(path)
    entries = [store.record(new_entry()) for _ in range(30)]
    store.mark_synced(ids=[e.id for e in entries[:10]])
    with store.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    # Damage the last page (an index page of the last table written), as a bad sector would.
    data = bytearray(path.read_bytes())
    page = 4096
    data[-page + 8 : -page + 200] = b"\xa5" * 192
    path.write_bytes(bytes(data))

    reopened = EntryStore.open(path)
    assert not reopened.integrity.ok
    quarantined = reopened.integrity.quarantined
    assert quarantined is not None and quarantined.exists()
    assert "damaged" in quarantined.name
    recovered = {e.id: e for e in reopened.recent(limit=100)}
    assert reopened.integrity.salvaged == len(recovered) > 0
    assert set(recovered) <= {e.id for e in entries}
    pending = {e.id for e in reopened.pending(after_seq=0, limit=100)}
    assert pending == {i for i in recovered if i not in {e.id for e in entries[:10]}}
    assert reopened.record(new_entry()).seq == 31


def test_garbage_file_is_kept_aside_and_a_new_database_started(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    path.write_bytes(b"this is not a database" * 100)
    store = EntryStore.open(path)
    assert not store.integrity.ok
    assert store.integrity.quarantined is not None
    assert store.integrity.quarantined.read_bytes().startswith(b"this is not")
    assert store.record(new_entry()).seq == 1
