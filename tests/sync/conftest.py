"""Fixtures for sync: a real entry store, a publisher on its own event loop, a collector."""

from __future__ import annotations

import asyncio
import getpass
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import Session, col

from gateway.core.values import CodeCheck, CodeStatus, Decision, Direction, Entry, NewEntry
from gateway.storage.store import EntryStore
from sync.collector import Collector
from sync.collector_store import CollectedEntry, create_collector_engine
from sync.mqtt import MqttClient, MqttSettings
from sync.publisher import Publisher, gateway_client
from sync.topics import Topics
from tests.support.broker import Broker, mosquitto_available

PREFIX = "checkpoint/v1"
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


def collected_ids(url: str) -> list[str]:
    """Every entry id in the collector's database, duplicates included."""
    engine = create_collector_engine(url)
    try:
        with Session(engine) as session:
            return list(session.execute(select(col(CollectedEntry.id))).scalars())
    finally:
        engine.dispose()


def start_collector(url: str, broker: Broker) -> Collector:
    collector = Collector(url, "127.0.0.1", broker.port, prefix=PREFIX, client_id="test-collector")
    collector.start()
    return collector


class RunningPublisher:
    """A gateway client and its publisher running on an event loop in a background thread.

    `port` (default: the broker's) lets the connection go through a proxy; `settings` are
    more `MqttSettings` fields, `options` the publisher's.
    """

    def __init__(
        self,
        store: EntryStore,
        broker: Broker,
        topics: Topics,
        *,
        port: int | None = None,
        settings: dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        mqtt = MqttSettings(host="127.0.0.1", port=port or broker.port, **(settings or {}))
        self.client = gateway_client(mqtt, topics)
        self.connections = ConnectionLog()
        self.client.add_connection_listener(self.connections.changed)
        self.publisher = Publisher(store, self.client, topics, version="test", **options)
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), name="publisher")

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        await self.publisher.run(self._stop)

    def start(self) -> RunningPublisher:
        self.client.start()
        self._thread.start()
        assert self._ready.wait(5)
        return self

    def stop(self) -> None:
        if self._thread.is_alive() and self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        assert not self._thread.is_alive()
        self.client.stop()


class ConnectionLog:
    """Every change of a client's `connected`, with the monotonic time it happened."""

    def __init__(self) -> None:
        self.changes: list[tuple[float, bool]] = []

    def changed(self, connected: bool) -> None:
        self.changes.append((time.monotonic(), connected))

    def states(self) -> list[bool]:
        return [connected for _, connected in self.changes]

    def connected_between(self, start: float, end: float) -> bool:
        """Whether the client claimed a connection at any moment in [start, end]."""
        state = False
        for at, connected in self.changes:
            if at > end:
                break
            if at <= start:
                state = connected
            elif connected:
                return True
        return state


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
