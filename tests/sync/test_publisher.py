from __future__ import annotations

import json
import logging
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest

from gateway.core.values import DeviceHealth, DeviceState
from gateway.storage.store import EntryStore
from harness.broker import Broker
from harness.sync import RunningPublisher, collected_ids
from harness.waiting import wait_until
from sync.batch import decode_batch
from sync.collector import Collector
from sync.publisher import Publisher
from sync.topics import TopicKind, Topics, parse_topic
from sync.wire import load_schema
from tests.support.mqtt import Capture
from tests.sync.conftest import PREFIX, mqtt_client, record

pytestmark = pytest.mark.broker

REPO = Path(__file__).resolve().parents[2]


def backlog(store: EntryStore) -> int:
    return store.backlog().count


def test_all_entries_reach_the_collector_exactly_once_and_are_then_synced(
    store: EntryStore,
    collector_url: str,
    run_collector: Callable[[], Collector],
    run_publisher: Callable[..., RunningPublisher],
) -> None:
    recorded = record(store, 230)
    run_collector()
    running = run_publisher(batch_size=20, window=3)

    wait_until(lambda: backlog(store) == 0, what="an empty backlog", timeout=20)

    assert sorted(collected_ids(collector_url)) == sorted(entry.id for entry in recorded)
    assert len(store.recent(limit=300)) == 230  # synced entries stay at the gate
    # Counted on the event loop just after the store's commit, which the test may see first.
    wait_until(lambda: running.publisher.acked == 230, what="the acks counted")
    wait_until(lambda: running.publisher.in_flight == 0, what="no batch in flight")


def test_entries_stay_unsynced_until_a_collector_acks_them(
    broker: Broker,
    store: EntryStore,
    topics: Topics,
    collector_url: str,
    run_collector: Callable[[], Collector],
    run_publisher: Callable[..., RunningPublisher],
) -> None:
    capture = Capture(broker.port, topics.entries)
    recorded = record(store, 5)
    running = run_publisher(ack_timeout_s=0.5)
    try:
        # Sent (the broker acknowledged), never acked, so sent again after the timeout.
        wait_until(lambda: running.publisher.resent >= 5, what="a resend")
        wait_until(lambda: running.publisher.sent >= 10, what="the resend's PUBACK")
        assert backlog(store) == 5
        batches = [decode_batch(m.payload).ids for m in capture.on(topics.entries)]
        assert batches[0] == batches[1] == [entry.id for entry in recorded]

        run_collector()
        wait_until(lambda: backlog(store) == 0, what="the collector's ack")
        assert sorted(collected_ids(collector_url)) == sorted(entry.id for entry in recorded)
    finally:
        capture.close()


def test_no_more_than_the_window_of_batches_is_in_flight(
    broker: Broker,
    store: EntryStore,
    topics: Topics,
    run_publisher: Callable[..., RunningPublisher],
) -> None:
    record(store, 30)
    capture = Capture(broker.port, topics.entries)
    running = run_publisher(batch_size=5, window=2, ack_timeout_s=60)
    try:
        wait_until(lambda: running.publisher.sent == 10, what="two batches sent")
        wait_until(lambda: len(capture.on(topics.entries)) == 2, what="two batches delivered")
        assert running.publisher.in_flight == 10
        assert [len(decode_batch(m.payload).entries) for m in capture.on(topics.entries)] == [5, 5]

        # The collector acks the first batch by hand: exactly one more batch may go.
        first = decode_batch(capture.on(topics.entries)[0].payload)
        capture.publish(topics.ack, json.dumps({"schema": 1, "ids": first.ids}).encode())
        wait_until(lambda: len(capture.on(topics.entries)) == 3, what="the third batch")
        assert backlog(store) == 25
        assert running.publisher.in_flight == 10
        third = decode_batch(capture.on(topics.entries)[2].payload)
        assert [e.seq for e in third.entries] == [11, 12, 13, 14, 15]
    finally:
        capture.close()


def test_notify_wakes_the_publisher_without_polling(
    store: EntryStore,
    run_collector: Callable[[], Collector],
    run_publisher: Callable[..., RunningPublisher],
) -> None:
    run_collector()
    running = run_publisher(poll_interval_s=600)
    wait_until(lambda: running.publisher.connected, what="the connection")

    for round_ in range(3):
        record(store, 2, first=2 * round_)
        running.publisher.notify()
        wait_until(lambda: backlog(store) == 0, what="the new entries synced")

    wait_until(lambda: running.publisher.acked == 6, what="the acks counted")


def test_a_broker_outage_keeps_entries_and_the_backlog_drains_afterwards(
    broker: Broker,
    store: EntryStore,
    collector_url: str,
    run_collector: Callable[[], Collector],
    run_publisher: Callable[..., RunningPublisher],
) -> None:
    collector = run_collector()
    running = run_publisher(ack_timeout_s=2)
    before = record(store, 10)
    running.publisher.notify()
    wait_until(lambda: backlog(store) == 0, what="the first entries synced")

    broker.stop()
    wait_until(lambda: not running.publisher.connected, what="the publisher to notice")
    during = record(store, 15, first=10)
    running.publisher.notify()
    assert backlog(store) == 15
    assert not running.publisher.connected

    broker.start()
    wait_until(lambda: backlog(store) == 0, what="the backlog to drain", timeout=30)

    assert running.publisher.connected and collector.connected
    expected = sorted(entry.id for entry in [*before, *during])
    assert sorted(collected_ids(collector_url)) == expected


def test_state_is_online_and_retained_and_offline_after_a_clean_stop(
    broker: Broker, store: EntryStore, topics: Topics
) -> None:
    recorded = record(store, 3)
    devices = (DeviceHealth(name="cam-1", kind="camera", state=DeviceState.DEGRADED, reason="dim"),)
    live = Capture(broker.port, topics.state)
    running = RunningPublisher(store, broker, topics, devices=lambda: devices).start()
    try:
        wait_until(lambda: bool(live.on(topics.state)), what="the state message")
        late = Capture(broker.port, topics.state)
        wait_until(lambda: bool(late.on(topics.state)), what="the retained state")
        message = late.on(topics.state)[0]
        late.close()
    finally:
        running.stop()
        live.close()

    state = json.loads(message.payload)
    jsonschema.validate(state, load_schema("state"))
    assert message.retain
    assert state["state"] == "online"
    assert state["version"] == "test"
    assert state["backlog"] == 3
    assert state["oldest_unsynced"] == recorded[0].occurred_at.isoformat()
    assert state["devices"] == {"cam-1": {"kind": "camera", "state": "degraded", "reason": "dim"}}

    after = Capture(broker.port, topics.state)
    try:
        wait_until(lambda: bool(after.on(topics.state)), what="the retained state")
        final = json.loads(after.on(topics.state)[0].payload)
        assert final["state"] == "offline" and final["backlog"] == 3
    finally:
        after.close()


def test_the_last_will_says_offline_when_the_gateway_dies(
    broker: Broker, topics: Topics, tmp_path: Path
) -> None:
    capture = Capture(broker.port, topics.state)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.sync.gateway_process",
            str(broker.port),
            str(tmp_path / "g.db"),
        ],
        cwd=REPO,
    )
    try:
        wait_until(
            lambda: any(
                json.loads(m.payload)["state"] == "online" for m in capture.on(topics.state)
            ),
            what="the online state",
            timeout=20,
        )
        process.kill()  # no DISCONNECT: the broker must publish the will
        process.wait(10)
        wait_until(
            lambda: json.loads(capture.on(topics.state)[-1].payload) == {"state": "offline"},
            what="the last will",
        )
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        capture.close()

    later = Capture(broker.port, topics.state)
    try:
        wait_until(lambda: bool(later.on(topics.state)), what="the retained will")
        (retained,) = later.on(topics.state)
        assert retained.retain
        assert json.loads(retained.payload) == {"state": "offline"}
        jsonschema.validate(json.loads(retained.payload), load_schema("state"))
    finally:
        later.close()


def test_messages_on_the_wire_match_the_json_schemas(
    broker: Broker,
    store: EntryStore,
    run_collector: Callable[[], Collector],
    run_publisher: Callable[..., RunningPublisher],
) -> None:
    capture = Capture(broker.port, f"{PREFIX}/#")
    record(store, 12)
    run_collector()
    run_publisher(batch_size=5)
    try:
        wait_until(lambda: backlog(store) == 0, what="an empty backlog")
        kinds = {TopicKind.ENTRIES: "entries", TopicKind.ACK: "ack", TopicKind.STATE: "state"}
        seen: set[TopicKind] = set()
        for message in list(capture.messages):
            kind = parse_topic(message.topic, prefix=PREFIX).kind
            jsonschema.validate(json.loads(message.payload), load_schema(kinds[kind]))
            seen.add(kind)
        assert seen == set(kinds)
    finally:
        capture.close()


def test_garbage_and_foreign_ids_on_the_ack_topic_change_nothing(
    broker: Broker,
    store: EntryStore,
    topics: Topics,
    run_collector: Callable[[], Collector],
    run_publisher: Callable[..., RunningPublisher],
    caplog: pytest.LogCaptureFixture,
) -> None:
    record(store, 4)
    capture = Capture(broker.port, "unused")
    with caplog.at_level(logging.WARNING, logger="sync.publisher"):
        running = run_publisher(ack_timeout_s=0.5)
        wait_until(lambda: running.publisher.sent >= 4, what="the batch sent")
        capture.publish(topics.ack, b"\x00garbage")
        unknown = json.dumps({"schema": 1, "ids": [str(uuid.uuid4())]}).encode()
        capture.publish(topics.ack, unknown)
        wait_until(
            lambda: any(topics.ack in r.getMessage() for r in caplog.records), what="a warning"
        )
    capture.close()
    assert backlog(store) == 4

    run_collector()
    wait_until(lambda: backlog(store) == 0, what="the real acks")
    # Counted on the event loop just after the store's commit, which the test may see first.
    wait_until(lambda: running.publisher.acked == 4, what="the acks counted")


def test_batches_are_cut_by_bytes_as_well_as_by_count(
    broker: Broker,
    store: EntryStore,
    topics: Topics,
    collector_url: str,
    run_collector: Callable[[], Collector],
    run_publisher: Callable[..., RunningPublisher],
) -> None:
    recorded = record(store, 40)
    capture = Capture(broker.port, topics.entries)
    run_collector()
    limit = 4096  # a handful of entries
    run_publisher(batch_size=100, max_batch_bytes=limit, boot_id="b" * 36)
    try:
        wait_until(lambda: backlog(store) == 0, what="an empty backlog")
        batches = [decode_batch(m.payload) for m in capture.on(topics.entries)]
        sizes = [len(m.payload) for m in capture.on(topics.entries)]
    finally:
        capture.close()

    assert max(sizes) <= limit
    assert len(batches) >= 6
    sent = [entry.seq for batch in batches for entry in batch.entries]
    assert sent == sorted(sent) == [entry.seq for entry in recorded]
    assert sorted(collected_ids(collector_url)) == sorted(entry.id for entry in recorded)


def test_an_entry_larger_than_the_byte_limit_goes_alone(
    broker: Broker,
    store: EntryStore,
    topics: Topics,
    run_collector: Callable[[], Collector],
    run_publisher: Callable[..., RunningPublisher],
    caplog: pytest.LogCaptureFixture,
) -> None:
    record(store, 3)
    capture = Capture(broker.port, topics.entries)
    run_collector()
    with caplog.at_level(logging.WARNING, logger="sync.publisher"):
        run_publisher(max_batch_bytes=300)  # less than one entry
        wait_until(lambda: backlog(store) == 0, what="an empty backlog")
    capture.close()

    assert [len(decode_batch(m.payload).entries) for m in capture.messages] == [1, 1, 1]
    assert sum("exceeds the batch byte limit" in r.getMessage() for r in caplog.records) == 3
    with pytest.raises(ValueError, match="envelope"):
        Publisher(store, mqtt_client(broker, "t"), topics, version="t", max_batch_bytes=100)
