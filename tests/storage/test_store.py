import dataclasses
import sqlite3
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.core.values import CodeCheck, CodeStatus, Decision, Direction, NewEntry
from gateway.storage.engine import StorageError
from gateway.storage.entries import amend_entry
from gateway.storage.migrate import upgrade
from gateway.storage.store import EntryStore

T0 = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)


def new_entry(**changes: object) -> NewEntry:
    base = NewEntry(
        id=str(uuid.uuid4()),
        gate="north-1",
        site="xiaojiang",
        lane="1",
        direction=Direction.IN,
        occurred_at=T0,
        clock_synced=True,
        boot_id="boot",
        monotonic_ns=1,
        code_format="cp1",
        code_check=CodeCheck.VALID,
        code_status=CodeStatus.GREEN,
        subject="abc",
        subject_label="张*华 3-2-501",
        payload_digest="00" * 32,
        temperature_c=36.5,
        temperature_source="ir",
        remeasured=False,
        decision=Decision.ADMIT,
        reasons=("r1",),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_every_connection_is_wal_and_synchronous_full(tmp_path: Path) -> None:
    store = EntryStore.open(tmp_path / "g.db")
    for _ in range(3):
        with store.engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA synchronous")).scalar() == 2
    store.close()


def test_entry_round_trip_keeps_every_field(tmp_path: Path) -> None:
    store = EntryStore.open(tmp_path / "g.db")
    entry = new_entry()
    stored = store.record(entry)
    (loaded,) = store.recent(limit=1)
    assert loaded == stored
    assert {f: getattr(loaded, f) for f in entry.__dataclass_fields__} == {
        f: getattr(entry, f) for f in entry.__dataclass_fields__
    }


def test_seq_strictly_increasing_and_never_reused_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    store = EntryStore.open(path)
    first = [store.record(new_entry()).seq for _ in range(5)]
    store.close()
    # Remove the newest entries as a purge would; their numbers must not come back.
    raw = sqlite3.connect(path)
    raw.execute("DELETE FROM outbox WHERE seq >= 4")
    raw.execute("DELETE FROM entries WHERE seq >= 4")
    raw.commit()
    raw.close()
    store = EntryStore.open(path)
    later = [store.record(new_entry()).seq for _ in range(3)]
    assert first == [1, 2, 3, 4, 5]
    assert later == [6, 7, 8]


def test_outbox_pending_and_ack(tmp_path: Path) -> None:
    store = EntryStore.open(tmp_path / "g.db")
    entries = [store.record(new_entry(occurred_at=T0 + timedelta(seconds=i))) for i in range(5)]
    assert [e.seq for e in store.pending(after_seq=0, limit=3)] == [1, 2, 3]
    assert [e.seq for e in store.pending(after_seq=3, limit=10)] == [4, 5]
    assert store.backlog().count == 5
    assert store.backlog().oldest == T0
    acked = store.mark_synced(ids=[entries[0].id, entries[2].id])
    assert acked == 2
    assert store.mark_synced(ids=[entries[0].id]) == 0  # a duplicate ack is harmless
    assert [e.seq for e in store.pending(after_seq=0, limit=10)] == [2, 4, 5]
    assert store.backlog().oldest == T0 + timedelta(seconds=1)


def test_an_ack_of_an_older_revision_leaves_the_newer_one_queued(tmp_path: Path) -> None:
    store = EntryStore.open(tmp_path / "g.db")
    first, second = (store.record(new_entry()) for _ in range(2))
    with store.transaction(write=True) as session:
        amend_entry(session, entry_id=first.id, decision=Decision.ADMIT, reasons=["handheld"])

    assert store.mark_synced(ids=[first.id, second.id], revisions=[0, 0]) == 1
    assert [e.id for e in store.pending(after_seq=0, limit=10)] == [first.id]
    # The same id twice in one ack (a resend and the new revision): the newest counts.
    assert store.mark_synced(ids=[first.id, first.id], revisions=[1, 0]) == 1
    assert store.backlog().count == 0


def test_duplicate_entry_id_is_refused_and_nothing_half_written(tmp_path: Path) -> None:
    store = EntryStore.open(tmp_path / "g.db")
    entry = new_entry()
    store.record(entry)
    with pytest.raises(Exception, match="UNIQUE"):
        store.record(entry)
    assert store.backlog().count == 1
    assert store.record(new_entry()).seq == 2  # the rolled-back attempt left no trace


def test_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    store = EntryStore.open(tmp_path / "g.db")
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StorageError, match="newer checkpoint-gateway"):
        upgrade(store.engine)


def test_concurrent_writers_and_readers_never_fail(tmp_path: Path) -> None:
    """The service records while sync acknowledges and screens read: writes queue, never fail."""
    import threading

    store = EntryStore.open(tmp_path / "g.db")
    errors: list[BaseException] = []
    stop = threading.Event()

    def guarded(work: Callable[[], object]) -> Callable[[], None]:
        def loop() -> None:
            while not stop.is_set():
                try:
                    work()
                except BaseException as exc:  # noqa: BLE001 - collected and asserted on below
                    errors.append(exc)

        return loop

    def acknowledge() -> None:
        pending = store.pending(after_seq=0, limit=20)
        store.mark_synced(ids=[e.id for e in pending])

    def read() -> None:
        store.backlog()
        store.admitted_since(subject="abc", direction=Direction.IN, since=T0)

    workers = [
        threading.Thread(target=guarded(acknowledge)),
        threading.Thread(target=guarded(read)),
        threading.Thread(target=guarded(lambda: store.purge(now=T0, retention_days=28))),
    ]
    for worker in workers:
        worker.start()
    try:
        for _ in range(150):
            store.record(new_entry())
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert errors == []
    assert [e.seq for e in store.recent(limit=1)] == [150]
