"""A gateway's publisher on its own event loop, and what a collector's database holds."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from gateway.storage.store import EntryStore
from harness.broker import Broker
from sync.collector_store import ENTRIES, create_collector_engine
from sync.mqtt import MqttSettings
from sync.publisher import Publisher, gateway_client
from sync.topics import Topics

PREFIX = "checkpoint/v1"


def collected_ids(url: str) -> list[str]:
    """Every entry id in the collector's database, duplicates included."""
    engine = create_collector_engine(url)
    try:
        with Session(engine) as session:
            return list(session.execute(select(ENTRIES.c.id)).scalars())
    finally:
        engine.dispose()


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
