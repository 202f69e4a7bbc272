"""Fixtures for sync: a real entry store, a publisher on its own event loop, a collector."""

from __future__ import annotations

import getpass
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.core.values import CodeCheck, CodeStatus, Decision, Direction, Entry, NewEntry
from gateway.storage.store import EntryStore
from harness.broker import Broker, mosquitto_available
from harness.sync import PREFIX, RunningPublisher
from sync.collector import Collector, collector_client
from sync.mqtt import MqttClient, MqttSettings
from sync.topics import Topics

SITE = "xiaojiang"
GATE = "north-1"
START = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def new_entry(index: int, *, site: str = SITE, gate: str = GATE) -> NewEntry:
    return NewEntry(
        id=str(uuid.uuid4()),
        gate=gate,
        site=site,
        lane="1",
        direction=Direction.IN,
        occurred_at=START + timedelta(seconds=index),
        clock_synced=True,
        boot_id="7c9e6679-7425-40de-944b-e07fc1f90ae7",
        monotonic_ns=1_000_000 * index,
        code_format="community-pass",
        code_check=CodeCheck.VALID,
        code_status=CodeStatus.GREEN,
        subject="s-" + format(index, "04d"),
        subject_label="张*华 3-2-501",
        payload_digest="ab" * 32,
        temperature_c=36.4,
        temperature_source="simulated",
        remeasured=False,
        decision=Decision.ADMIT,
        reasons=("ok",),
    )


def record(store: EntryStore, count: int, *, first: int = 0) -> list[Entry]:
    return [store.record(new_entry(first + i)) for i in range(count)]


@pytest.fixture
def topics() -> Topics:
    return Topics(prefix=PREFIX, site=SITE, gate=GATE)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EntryStore]:
    opened = EntryStore.open(tmp_path / "gateway.db")
    yield opened
    opened.close()


@pytest.fixture
def collector_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'collector.db'}"


def start_collector(url: str, broker: Broker) -> Collector:
    collector = Collector(
        url,
        collector_client(
            MqttSettings(host="127.0.0.1", port=broker.port), client_id="test-collector"
        ),
        prefix=PREFIX,
    )
    collector.start()
    return collector


@pytest.fixture
def run_publisher(
    store: EntryStore, broker: Broker, topics: Topics
) -> Iterator[Callable[..., RunningPublisher]]:
    """Start publishers with `run_publisher(**options)`; they are stopped after the test."""
    started: list[RunningPublisher] = []

    def factory(**options: Any) -> RunningPublisher:
        running = RunningPublisher(store, broker, topics, **options).start()
        started.append(running)
        return running

    yield factory
    for running in reversed(started):
        running.stop()


@pytest.fixture
def run_collector(collector_url: str, broker: Broker) -> Iterator[Callable[[], Collector]]:
    """Start the collector with `run_collector()`; it is stopped after the test."""
    started: list[Collector] = []

    def factory() -> Collector:
        collector = start_collector(collector_url, broker)
        started.append(collector)
        return collector

    yield factory
    for collector in reversed(started):
        collector.stop()


def mqtt_client(broker: Broker, client_id: str) -> MqttClient:
    return MqttClient(MqttSettings(host="127.0.0.1", port=broker.port), client_id=client_id)


@pytest.fixture
def make_broker(tmp_path: Path) -> Iterator[Callable[[str], Broker]]:
    """Start extra brokers with their own config lines (TLS, passwords); stopped after the test."""
    if not mosquitto_available():
        pytest.skip("mosquitto is not installed (scripts/test.sh installs it)")
    started: list[Broker] = []

    def factory(extra_config: str) -> Broker:
        directory = tmp_path / f"broker-{len(started)}"
        directory.mkdir()
        # Started as root, Mosquitto drops to user "mosquitto", which cannot read tmp_path.
        user = f"user {getpass.getuser()}\n"
        broker = Broker(directory, extra_config=user + extra_config).start()
        started.append(broker)
        return broker

    yield factory
    for broker in started:
        broker.stop()
