"""A guard's action after recording (a new revision of the entry) reaches the collector, on
a connection that stays up, whether the first revision was acknowledged already or is still
waiting for its ack."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlmodel import Session, select

from gateway.core.values import Decision, Override
from gateway.storage.entries import amend_entry
from gateway.storage.store import EntryStore
from harness.broker import Broker
from harness.sync import RunningPublisher
from harness.waiting import wait_until
from sync.batch import decode_batch
from sync.collector import Collector
from sync.collector_store import ENTRIES as COLLECTED
from sync.collector_store import create_collector_engine
from sync.topics import Topics
from sync.wire import encode_ack
from tests.support.mqtt import Capture
from tests.sync.conftest import record

pytestmark = pytest.mark.broker


def collected_revision(url: str, entry_id: str) -> tuple[int, str] | None:
    """The revision and decision the collector holds for an entry (None: not there)."""
    engine = create_collector_engine(url)
    try:
        with Session(engine) as session:
            row = session.execute(
                select(COLLECTED.c.revision, COLLECTED.c.decision).where(COLLECTED.c.id == entry_id)
            ).one_or_none()
            return None if row is None else (int(row[0]), str(row[1]))
    finally:
        engine.dispose()


def override(store: EntryStore, entry_id: str) -> None:
    with store.transaction(write=True) as session:
        amend_entry(
            session,
            entry_id=entry_id,
            decision=Decision.ADMIT,
            reasons=["override-from-deny"],
            override=Override(by="王师傅", reason="resident known to the guard"),
        )


def test_an_override_after_the_ack_is_sent_on_the_same_connection(
    store: EntryStore,
    collector_url: str,
    run_collector: Callable[[], Collector],
    run_publisher: Callable[..., RunningPublisher],
) -> None:
    (entry,) = record(store, 1)
    run_collector()
    running = run_publisher()
    wait_until(lambda: store.backlog().count == 0, what="the first ack")

    override(store, entry.id)
    running.publisher.notify_amended(entry.seq)

    wait_until(
        lambda: collected_revision(collector_url, entry.id) == (1, "admit"),
        what="the override at the collector",
    )
    wait_until(lambda: store.backlog().count == 0, what="the override's ack")
    assert [item.revision for item in store.pending(after_seq=0, limit=10)] == []


def test_an_override_while_the_first_revision_awaits_its_ack_is_not_lost(
    store: EntryStore,
    collector_url: str,
    run_collector: Callable[[], Collector],
    run_publisher: Callable[..., RunningPublisher],
) -> None:
    (entry,) = record(store, 1)
    running = run_publisher(ack_timeout_s=0.5)
    wait_until(lambda: running.publisher.sent >= 1, what="revision 0 sent")
    override(store, entry.id)  # no collector yet: revision 0 is still in flight
    running.publisher.notify_amended(entry.seq)

    # The collector now gets revision 0 (resent) and acknowledges it: that ack must not
    # count for revision 1.
    run_collector()

    wait_until(
        lambda: collected_revision(collector_url, entry.id) == (1, "admit"),
        what="the override at the collector",
    )
    wait_until(lambda: store.backlog().count == 0, what="the override's ack")


def test_an_ack_of_the_old_revision_settles_only_the_old_revision(
    broker: Broker,
    store: EntryStore,
    topics: Topics,
    run_publisher: Callable[..., RunningPublisher],
) -> None:
    """The collector's acks played by hand, in the worst order: revision 0's ack arrives
    after revision 1 was sent."""
    (entry,) = record(store, 1)
    capture = Capture(broker.port, topics.entries)
    try:
        running = run_publisher(ack_timeout_s=30)
        wait_until(lambda: len(capture.on(topics.entries)) == 1, what="revision 0 sent")
        override(store, entry.id)
        running.publisher.notify_amended(entry.seq)
        wait_until(lambda: len(capture.on(topics.entries)) == 2, what="revision 1 sent")
        sent = [decode_batch(m.payload).entries[0].revision for m in capture.on(topics.entries)]
        assert sent == [0, 1]

        capture.publish(topics.ack, encode_ack([entry.id], [0]))
        wait_until(lambda: running.publisher.in_flight == 1, what="revision 0 settled")
        assert [item.revision for item in store.pending(after_seq=0, limit=10)] == [1]

        capture.publish(topics.ack, encode_ack([entry.id], [1]))
        wait_until(lambda: store.backlog().count == 0, what="revision 1 settled")
        assert running.publisher.in_flight == 0
        assert len(capture.on(topics.entries)) == 2  # nothing was sent twice
    finally:
        capture.close()
