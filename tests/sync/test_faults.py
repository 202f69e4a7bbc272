"""Network faults between the gateway and the broker, through a proxy on loopback.

The collector stores into PostgreSQL. Whatever the network does, every entry reaches it
exactly once, and the gateway's `connected` is true only while a connection really works.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from gateway.core.values import Entry
from gateway.storage.store import EntryStore
from harness.broker import Broker
from harness.sync import RunningPublisher, collected_ids
from harness.waiting import wait_until
from sync.collector import Collector
from tests.support.proxy import FaultProxy
from tests.sync.conftest import record, start_collector

pytestmark = [pytest.mark.broker, pytest.mark.postgres]

KEEPALIVE_S = 3
# paho notices a silent connection after one keepalive without traffic plus one unanswered
# PINGREQ; our loop looks at least once a second.
DETECTION_S = 2 * KEEPALIVE_S + 3
FAST_RECONNECT = {"keepalive_s": KEEPALIVE_S, "reconnect_max_s": 2.0}


@pytest.fixture
def proxy(broker: Broker) -> Iterator[FaultProxy]:
    running = FaultProxy(broker.port).start()
    yield running
    running.stop()


@pytest.fixture
def collector(postgres_url: str, broker: Broker) -> Iterator[Collector]:
    running = start_collector(postgres_url, broker)
    yield running
    running.stop()


def backlog(store: EntryStore) -> int:
    return store.backlog().count


def assert_exactly_once(postgres_url: str, entries: list[Entry]) -> None:
    ids = collected_ids(postgres_url)
    assert len(ids) == len(set(ids)), "a duplicate row at the collector"
    assert sorted(ids) == sorted(entry.id for entry in entries), "an entry is missing"


def test_a_30_s_blackhole_loses_nothing_and_connected_stays_true(
    store: EntryStore,
    postgres_url: str,
    proxy: FaultProxy,
    collector: Collector,
    run_publisher: Callable[..., RunningPublisher],
) -> None:
    recorded = record(store, 200)
    running = run_publisher(
        port=proxy.port, settings=FAST_RECONNECT, batch_size=20, window=4, ack_timeout_s=2.0
    )
    wait_until(lambda: backlog(store) < 150, what="syncing under way", timeout=20)

    proxy.blackhole(True)
    blackhole_from = time.monotonic()
    recorded += record(store, 100, first=200)  # the gate keeps recording meanwhile
    running.publisher.notify()
    time.sleep(30)
    blackhole_to = time.monotonic()
    proxy.blackhole(False)
    wait_until(lambda: backlog(store) == 0, what="the backlog to drain", timeout=40)

    assert_exactly_once(postgres_url, recorded)
    log = running.connections
    assert not log.connected_between(blackhole_from + DETECTION_S, blackhole_to), log.changes
    assert log.states()[-1] is True
    assert running.publisher.connected


def test_a_reset_in_the_middle_of_a_batch_loses_nothing(
    store: EntryStore,
    postgres_url: str,
    proxy: FaultProxy,
    collector: Collector,
    run_publisher: Callable[..., RunningPublisher],
) -> None:
    recorded = record(store, 1500)
    # A batch of 100 entries is some 60 kB: the cut falls inside the first PUBLISH. With 4
    # of the 15 batches in flight, the stream still runs when the second cut is armed.
    proxy.reset_after(30_000)
    running = run_publisher(port=proxy.port, settings=FAST_RECONNECT, window=4, ack_timeout_s=3.0)
    wait_until(lambda: proxy.connections >= 2, what="a reconnect after the reset")
    proxy.reset_after(60_000)  # and once more, later in the stream
    wait_until(lambda: backlog(store) == 0, what="the backlog to drain", timeout=30)

    assert_exactly_once(postgres_url, recorded)
    assert running.connections.states()[:2] == [True, False]
    assert proxy.connections >= 3
    assert running.publisher.connected


def test_500_ms_latency_each_way_slows_but_never_drops_the_connection(
    store: EntryStore,
    postgres_url: str,
    proxy: FaultProxy,
    collector: Collector,
    run_publisher: Callable[..., RunningPublisher],
) -> None:
    recorded = record(store, 200)
    proxy.latency(0.5)
    running = run_publisher(
        port=proxy.port, settings=FAST_RECONNECT, batch_size=25, ack_timeout_s=5.0
    )
    wait_until(lambda: backlog(store) == 0, what="the backlog to drain", timeout=30)
    time.sleep(KEEPALIVE_S * 2)  # keepalives cross the slow link too

    assert_exactly_once(postgres_url, recorded)
    assert running.connections.states() == [True]
    assert running.publisher.resent == 0


def test_one_byte_slices_reassemble_into_the_same_messages(
    store: EntryStore,
    postgres_url: str,
    proxy: FaultProxy,
    collector: Collector,
    run_publisher: Callable[..., RunningPublisher],
) -> None:
    recorded = record(store, 100)
    proxy.slice(1)
    running = run_publisher(port=proxy.port, settings=FAST_RECONNECT, batch_size=20)
    wait_until(lambda: backlog(store) == 0, what="the backlog to drain", timeout=30)

    assert_exactly_once(postgres_url, recorded)
    assert running.connections.states() == [True]
    assert proxy.bytes_up > 50_000
