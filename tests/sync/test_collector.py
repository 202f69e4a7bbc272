from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlmodel import Session, SQLModel

from gateway.core.values import Entry
from gateway.storage.store import EntryStore
from gateway.storage.tables import ENTRIES
from harness.broker import Broker
from harness.sync import collected_ids
from harness.waiting import wait_until
from sync.batch import encode_batch
from sync.collector import Collector, collector_client
from sync.collector_store import (
    CollectorTable,
    create_collector_engine,
    create_tables,
    engine_url,
    gate_states,
)
from sync.mqtt import Message, MqttSettings
from sync.topics import Topics
from sync.wire import decode_ack
from tests.support.mqtt import Capture
from tests.sync.conftest import GATE, PREFIX, SITE, START, record

pytestmark = pytest.mark.broker


def batch_payload(entries: list[Entry], *, site: str = SITE, gate: str = GATE) -> bytes:
    return encode_batch(site=site, gate=gate, entries=entries, sent_at=START)


def acks(capture: Capture, topics: Topics) -> list[list[str]]:
    return [decode_ack(message.payload).ids for message in capture.on(topics.ack)]


def test_a_batch_delivered_twice_is_stored_once_and_acked_twice(
    broker: Broker,
    store: EntryStore,
    topics: Topics,
    collector_url: str,
    run_collector: Callable[[], Collector],
) -> None:
    entries = record(store, 5)
    ids = [entry.id for entry in entries]
    capture = Capture(broker.port, topics.ack)
    collector = run_collector()
    wait_until(lambda: collector.connected, what="the collector's connection")
    try:
        capture.publish(topics.entries, batch_payload(entries))
        capture.publish(topics.entries, batch_payload(entries))
        wait_until(lambda: len(acks(capture, topics)) == 2, what="two acks")
        assert acks(capture, topics) == [ids, ids]
        assert sorted(collected_ids(collector_url)) == sorted(ids)

        # A batch mixing stored and new entries is acknowledged in full.
        mixed = [*entries[3:], *record(store, 2, first=5)]
        capture.publish(topics.entries, batch_payload(mixed))
        wait_until(lambda: len(acks(capture, topics)) == 3, what="the third ack")
        assert acks(capture, topics)[2] == [entry.id for entry in mixed]
        assert len(collected_ids(collector_url)) == 7
    finally:
        capture.close()


def test_a_broken_entry_is_logged_and_acknowledged_without_blocking_the_good_ones(
    broker: Broker,
    store: EntryStore,
    topics: Topics,
    collector_url: str,
    run_collector: Callable[[], Collector],
    caplog: pytest.LogCaptureFixture,
) -> None:
    entries = record(store, 3)
    document = json.loads(batch_payload(entries))
    document["entries"][1]["direction"] = "sideways"
    capture = Capture(broker.port, topics.ack)
    collector = run_collector()
    wait_until(lambda: collector.connected, what="the collector's connection")
    try:
        with caplog.at_level(logging.WARNING, logger="sync.collector"):
            capture.publish(topics.entries, json.dumps(document).encode())
            wait_until(lambda: len(acks(capture, topics)) == 1, what="the ack")

        good = [entries[0].id, entries[2].id]
        assert acks(capture, topics) == [[*good, entries[1].id]]
        assert sorted(collected_ids(collector_url)) == sorted(good)
        assert f"refused entry {entries[1].id}" in caplog.text
        assert "entries.1.direction" in caplog.text and "sideways" not in caplog.text
    finally:
        capture.close()


@pytest.mark.postgres
def test_batches_stored_together_are_stored_alone_when_one_of_them_fails(
    broker: Broker, store: EntryStore, topics: Topics, postgres_url: str
) -> None:
    first, second = record(store, 3), record(store, 3, first=4)
    unstorable = dataclasses.replace(record(store, 1, first=3)[0], subject_label="unstorable")
    capture = Capture(broker.port, topics.ack)
    # Connected before the batches are stored, so their acks can go out at once.
    client = collector_client(MqttSettings(host="127.0.0.1", port=broker.port))
    client.start()
    wait_until(lambda: client.connected, what="the collector's connection")
    collector = Collector(postgres_url, client, prefix=PREFIX)
    # A batch valid on the wire that the database refuses (a constraint of the site's own).
    engine = create_collector_engine(postgres_url)
    create_tables(engine)
    with engine.begin() as connection:
        connection.execute(
            text("ALTER TABLE entries ADD CHECK (subject_label IS DISTINCT FROM 'unstorable')")
        )
    engine.dispose()
    for entries in (first, [unstorable], second):  # queued together: stored in one or more groups
        collector._arrived(Message(topics.entries, batch_payload(entries), retain=False))
    collector.start()
    try:
        wait_until(lambda: len(acks(capture, topics)) == 2, what="two acks")
        # Two writers may store (and acknowledge) the groups in either order.
        assert sorted(acks(capture, topics)) == sorted(
            [[e.id for e in first], [e.id for e in second]]
        )
        assert sorted(collected_ids(postgres_url)) == sorted(e.id for e in first + second)
    finally:
        collector.stop()
        capture.close()


def test_garbage_and_mismatched_batches_are_rejected_without_an_ack(
    broker: Broker,
    store: EntryStore,
    topics: Topics,
    collector_url: str,
    run_collector: Callable[[], Collector],
    caplog: pytest.LogCaptureFixture,
) -> None:
    entries = record(store, 3)
    other_gate = Topics(prefix=PREFIX, site=SITE, gate="south-2")
    capture = Capture(broker.port, f"{PREFIX}/+/+/ack")
    collector = run_collector()
    wait_until(lambda: collector.connected, what="the collector's connection")
    rejected = {
        topics.entries: b"not json at all",
        other_gate.entries: b'{"schema": 1}',
        # The payload says north-1 but arrives on south-2's topic.
        f"{PREFIX}/{SITE}/south-2/entries": batch_payload(entries[:1]),
        # The envelope matches the topic, the entries inside belong to north-1.
        f"{PREFIX}/{SITE}/south-3/entries": batch_payload(entries[1:2], gate="south-3"),
    }
    try:
        with caplog.at_level(logging.WARNING, logger="sync.collector"):
            for topic, payload in rejected.items():
                capture.publish(topic, payload)
            capture.publish(topics.entries, batch_payload(entries[2:]))
            wait_until(lambda: len(capture.messages) >= 1, what="the valid batch's ack")

        assert [(m.topic, decode_ack(m.payload).ids) for m in capture.messages] == [
            (topics.ack, [entries[2].id])
        ]
        assert collected_ids(collector_url) == [entries[2].id]
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        for topic in rejected:
            assert any(topic in warning for warning in warnings), topic
    finally:
        capture.close()


def test_gate_states_are_stored_and_a_last_will_keeps_the_backlog(
    broker: Broker, topics: Topics, collector_url: str, run_collector: Callable[[], Collector]
) -> None:
    online = {
        "state": "online",
        "version": "0.1.0",
        "backlog": 4,
        "oldest_unsynced": "2024-05-01T08:00:00+08:00",
        "devices": {"scanner-1": {"kind": "serial", "state": "up", "reason": ""}},
    }
    capture = Capture(broker.port, "unused")
    collector = run_collector()
    wait_until(lambda: collector.connected, what="the collector's connection")
    engine = create_collector_engine(collector_url)

    def states() -> list[tuple[str, str, str, int | None]]:
        with Session(engine) as session:
            return [(s.site, s.gate, s.state, s.backlog) for s in gate_states(session)]

    try:
        capture.publish(topics.state, json.dumps(online).encode(), retain=True)
        wait_until(lambda: states() == [(SITE, GATE, "online", 4)], what="the online state")
        capture.publish(topics.state, b'{"state": "offline"}', retain=True)
        wait_until(lambda: states() == [(SITE, GATE, "offline", 4)], what="the offline state")
        with Session(engine) as session:
            (row,) = gate_states(session)
        assert row.last_seen is not None
        assert row.oldest_unsynced is not None
        assert row.oldest_unsynced.replace(tzinfo=None).hour == 0  # stored in UTC
        assert row.devices == online["devices"]
    finally:
        capture.publish(topics.state, b"", retain=True)
        capture.close()
        engine.dispose()


def test_a_retained_state_is_not_taken_for_contact(
    broker: Broker, topics: Topics, collector_url: str, run_collector: Callable[[], Collector]
) -> None:
    capture = Capture(broker.port, "unused")
    capture.publish(topics.state, b'{"state": "offline"}', retain=True)
    run_collector()
    engine = create_collector_engine(collector_url)
    try:

        def rows() -> list[tuple[str, object]]:
            with Session(engine) as session:
                return [(s.state, s.last_seen) for s in gate_states(session)]

        wait_until(lambda: rows() != [], what="the retained state")
        assert rows() == [("offline", None)]
    finally:
        capture.close()
        engine.dispose()


def test_collector_tables_mirror_the_gateway_columns_in_their_own_metadata(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'deep' / 'collector.db'}"
    engine = create_collector_engine(url)
    create_tables(engine)
    try:
        gateway_columns = {column.name for column in ENTRIES.columns}
        collector_columns = {c["name"] for c in inspect(engine).get_columns("entries")}

        at_collector = {"sent_at", "received_at", "corrected_at"}
        assert collector_columns == gateway_columns | at_collector
        assert CollectorTable.metadata is not SQLModel.metadata
        assert set(CollectorTable.metadata.tables) == {
            "entries",
            "gates",
            "refused_entries",
            "imported_bundles",
            "last_passages",
        }
        assert "gates" not in SQLModel.metadata.tables
    finally:
        engine.dispose()
    with sqlite3.connect(tmp_path / "deep" / "collector.db") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_sqlite_connections_are_durable(tmp_path: Path) -> None:
    engine = create_collector_engine(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2
    finally:
        engine.dispose()


def test_database_urls_pick_psycopg_for_postgresql() -> None:
    assert engine_url("postgresql://u@db/checkpoint") == "postgresql+psycopg://u@db/checkpoint"
    assert engine_url("postgresql+psycopg://db/x") == "postgresql+psycopg://db/x"
    assert engine_url("sqlite:////var/lib/c.db") == "sqlite:////var/lib/c.db"
    with pytest.raises(ValueError, match="SQLite or PostgreSQL"):
        create_collector_engine("mysql://db/x")
