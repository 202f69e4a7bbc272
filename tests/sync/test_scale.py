"""Collectors on PostgreSQL under trouble: a broker queue cap, a collector dying between
commit and ack, two collectors sharing the load and one of them killed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.core.values import Entry
from gateway.storage.store import EntryStore
from harness.broker import Broker
from harness.sync import RunningPublisher, collected_ids
from harness.waiting import wait_until
from sync.collector import Collector, collector_client
from sync.mqtt import MqttSettings
from sync.topics import Topics
from tests.sync.conftest import PREFIX, record
from tests.sync.recorder import REPO

pytestmark = [pytest.mark.broker, pytest.mark.postgres]


class CollectorProcess:
    """`harness.collector_process` with its status file."""

    def __init__(self, tmp_path: Path, url: str, port: int, client_id: str, *extra: str) -> None:
        self.status_file = tmp_path / f"{client_id}.json"
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "harness.collector_process",
                url, str(port), client_id, str(self.status_file), *extra,
            ],
            cwd=REPO,
        )  # fmt: skip

    def status(self) -> dict[str, Any]:
        try:
            document: dict[str, Any] = json.loads(self.status_file.read_text())
        except FileNotFoundError:
            return {"batches": 0, "entries": 0}
        return document

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(20)


@pytest.fixture
def collector_processes(tmp_path: Path) -> Iterator[Callable[..., CollectorProcess]]:
    started: list[CollectorProcess] = []

    def factory(url: str, port: int, client_id: str, *extra: str) -> CollectorProcess:
        process = CollectorProcess(tmp_path, url, port, client_id, *extra)
        started.append(process)
        return process

    yield factory
    for process in started:
        process.stop()


def assert_exactly_once(url: str, entries: list[Entry]) -> None:
    ids = collected_ids(url)
    assert len(ids) == len(set(ids)), "a duplicate row at the collector"
    assert sorted(ids) == sorted(entry.id for entry in entries), "an entry is missing"


def test_1500_entries_arrive_through_a_broker_that_queues_only_1000(
    make_broker: Callable[[str], Broker],
    store: EntryStore,
    topics: Topics,
    postgres_url: str,
) -> None:
    broker = make_broker("max_queued_messages 1000\n")

    def persistent_collector() -> Collector:
        client = collector_client(
            MqttSettings(host="127.0.0.1", port=broker.port), client_id="c-1", session_expiry_s=600
        )
        return Collector(postgres_url, client, prefix=PREFIX)

    # The collector subscribes once (the broker keeps its session and queues for it), then
    # goes away.
    collector = persistent_collector()
    collector.start()
    wait_until(lambda: collector.connected, what="the collector's first connection")
    collector.stop()

    recorded = record(store, 1500)
    # One entry per message and a short ack timeout: resends overflow the collector's queue.
    running = RunningPublisher(
        store, broker, topics, batch_size=1, window=100, ack_timeout_s=0.5
    ).start()
    try:
        log = broker.directory / "mosquitto.log"
        wait_until(
            lambda: b"are being dropped" in log.read_bytes(),
            what="the broker to drop messages for the absent collector",
            timeout=30,
        )
        assert store.backlog().count == 1500
        collector = persistent_collector()
        collector.start()
        try:
            wait_until(lambda: store.backlog().count == 0, what="the backlog to drain", timeout=60)
        finally:
            collector.stop()
    finally:
        running.stop()

    assert_exactly_once(postgres_url, recorded)
    # The broker queued at most 1,000 for the absent collector: the rest arrived as resends.
    assert running.publisher.resent >= len(recorded) - 1000


def test_a_collector_killed_between_commit_and_ack_causes_only_a_resend(
    broker: Broker,
    store: EntryStore,
    postgres_url: str,
    collector_processes: Callable[..., CollectorProcess],
    run_publisher: Callable[..., RunningPublisher],
) -> None:
    dying = collector_processes(postgres_url, broker.port, "c-1", "--die-after-commit")
    wait_until(lambda: dying.status_file.exists(), what="the collector to run", timeout=20)
    recorded = record(store, 30)
    running = run_publisher(batch_size=10, window=1, ack_timeout_s=1.0)

    assert dying.process.wait(20) == -signal.SIGKILL
    assert len(collected_ids(postgres_url)) == 10  # committed, never acknowledged
    assert store.backlog().count == 30

    collector_processes(postgres_url, broker.port, "c-1")
    wait_until(lambda: store.backlog().count == 0, what="the backlog to drain", timeout=30)

    assert_exactly_once(postgres_url, recorded)
    assert running.publisher.resent >= 10


def test_two_collectors_share_the_load_and_one_killed_loses_nothing(
    broker: Broker,
    store: EntryStore,
    postgres_url: str,
    collector_processes: Callable[..., CollectorProcess],
    run_publisher: Callable[..., RunningPublisher],
) -> None:
    first = collector_processes(postgres_url, broker.port, "c-1")
    second = collector_processes(postgres_url, broker.port, "c-2")
    wait_until(
        lambda: first.status_file.exists() and second.status_file.exists(),
        what="both collectors to run",
        timeout=20,
    )
    recorded = record(store, 2000)
    run_publisher(batch_size=20, window=8, ack_timeout_s=1.0)

    wait_until(
        lambda: first.status()["batches"] >= 5 and second.status()["batches"] >= 5,
        what="both collectors to store batches",
        timeout=30,
    )
    second.kill()
    wait_until(lambda: store.backlog().count == 0, what="the backlog to drain", timeout=60)

    assert_exactly_once(postgres_url, recorded)
