"""Community-server side of sync: store every batch idempotently, then acknowledge it.

The network thread only queues messages (stamped with their arrival time). Named worker
threads form a pipeline: one validates the messages; the writers each take the batches
waiting together, store them in one transaction (group commit) and publish their acks only
after the commit, so the next batches are validated while the database writes the last ones.
On PostgreSQL two writers take turns, so one group is built while the server stores the
other (their statements take row locks in key order, so they cannot deadlock); SQLite has one
writer, as it takes one write at a time. A batch that is
invalid or cannot be stored is not acknowledged, so the gateway sends it again; a collector
that dies between commit and ack causes only those resends.

Several collectors share the load through one MQTT 5 shared subscription; each needs its own
client id. By default a collector's session ends with its connection (`session_expiry_s` 0):
brokers such as Mosquitto keep handing an absent member its share of a shared subscription
for as long as its session lives, where those batches would wait until the gateways resend
them. Without a session the live collectors get everything at once, and a restarted one
simply receives the gateways' resends.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine

from gateway.core.errors import StorageError
from sync.batch import decode_batch
from sync.collector_store import (
    ReceivedBatch,
    create_collector_engine,
    create_tables,
    entry_key,
    write_batches,
    write_state,
)
from sync.mqtt import Message, MqttClient, MqttError, MqttSettings
from sync.topics import (
    DEFAULT_PREFIX,
    TopicError,
    TopicKind,
    Topics,
    collector_subscription,
    parse_topic,
    state_subscription,
)
from sync.wire import WireError, decode_state, encode_ack

logger = logging.getLogger(__name__)

SESSION_EXPIRY_S = 0

# A message and the collector's clock when it arrived; None stops the workers.
_Arrival = tuple[Message, datetime] | None
# At most this many validated batches waiting are stored in one transaction.
GROUP_BATCHES = 16
# Writers storing groups at the same time (PostgreSQL; SQLite takes one write at a time).
POSTGRESQL_WRITERS = 2


def _utc_now() -> datetime:
    return datetime.now(UTC)


def collector_client(
    settings: MqttSettings,
    *,
    client_id: str = "checkpoint-collector",
    session_expiry_s: int = SESSION_EXPIRY_S,
) -> MqttClient:
    """A collector's MQTT client: its own client id (each collector needs one), and by
    default a session that ends with its connection (see the module's note)."""
    settings = dataclasses.replace(settings, session_expiry_s=session_expiry_s)
    return MqttClient(settings, client_id=client_id)


class Collector:
    """Subscribes to all gates' entries (shared) and states, stores them, acknowledges batches."""

    def __init__(
        self,
        database_url: str,
        client: MqttClient,
        *,
        prefix: str = DEFAULT_PREFIX,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._database_url = database_url
        self._prefix = prefix
        self._clock = clock
        self._client = client
        self._inbox: queue.Queue[_Arrival] = queue.Queue()
        self._valid: queue.Queue[ReceivedBatch | None] = queue.Queue()
        self._engine: Engine | None = None
        self._workers: list[threading.Thread] = []
        self._writers = 1
        self._counting = threading.Lock()
        # Batches and entries stored and acknowledged (resent ones included).
        self.batches = 0
        self.entries = 0

    @property
    def connected(self) -> bool:
        return self._client.connected

    def start(self) -> None:
        """Create the tables, start the worker, then connect and subscribe."""
        engine = create_collector_engine(self._database_url)
        create_tables(engine)
        self._engine = engine
        self._writers = POSTGRESQL_WRITERS if engine.dialect.name == "postgresql" else 1
        key = entry_key(engine)
        self._workers = [
            threading.Thread(target=self._validate, args=(engine,), name="collector-validate"),
            *(
                threading.Thread(
                    target=self._write, args=(engine, key), name=f"collector-write-{n}"
                )
                for n in range(1, self._writers + 1)
            ),
        ]
        for worker in self._workers:
            worker.start()
        # The inbox is unbounded on purpose: each gateway keeps only a small window of batches
        # in flight, and blocking the network thread would stall keepalives for every gate.
        self._client.subscribe(collector_subscription(self._prefix), self._arrived)
        self._client.subscribe(state_subscription(self._prefix), self._arrived)
        self._client.start()

    def stop(self) -> None:
        """Finish the queued messages (and their acks), disconnect, close the database."""
        if self._workers:
            self._inbox.put(None)
            for worker in self._workers:
                worker.join()
            self._workers = []
        self._client.stop()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def run(self, stop: threading.Event) -> None:
        """Collect until `stop` is set."""
        self.start()
        try:
            stop.wait()
        finally:
            self.stop()

    def _arrived(self, message: Message) -> None:
        # The network thread: stamp and hand on. Waiting in the inbox is not transit time.
        self._inbox.put((message, self._clock()))

    def _validate(self, engine: Engine) -> None:
        """Inbox → valid batches, in arrival order; a state message is stored here."""
        while (arrival := self._inbox.get()) is not None:
            try:
                if (batch := self._handle(engine, *arrival)) is not None:
                    self._valid.put(batch)
            except Exception:
                logger.exception("failed to handle a message on %s", arrival[0].topic)
        for _ in range(self._writers):
            self._valid.put(None)

    def _write(self, engine: Engine, key: tuple[str, ...]) -> None:
        """Valid batches → database, the ones waiting together (group commit) → acks."""
        stopping = False
        while not stopping:
            waiting = [self._valid.get()]
            # Each writer takes one None (the end) and nothing after it.
            while waiting[-1] is not None and len(waiting) < GROUP_BATCHES:
                try:
                    waiting.append(self._valid.get_nowait())
                except queue.Empty:
                    break
            received = [item for item in waiting if item is not None]
            stopping = len(received) < len(waiting)
            try:
                self._store(engine, key, received)
            except Exception:
                logger.exception("failed to store %d batches", len(received))

    def _handle(
        self, engine: Engine, message: Message, received_at: datetime
    ) -> ReceivedBatch | None:
        """A valid entries batch to store, or None (a state message is stored here)."""
        try:
            address = parse_topic(message.topic, prefix=self._prefix)
        except TopicError as error:
            logger.warning("ignored a message: %s", error)
            return None
        if address.gate is None:
            return None
        if address.kind is TopicKind.ENTRIES:
            return self._checked_batch(message, received_at, address.site, address.gate)
        if address.kind is TopicKind.STATE:
            self._handle_state(engine, message, received_at, address.site, address.gate)
        return None

    def _checked_batch(
        self, message: Message, received_at: datetime, site: str, gate: str
    ) -> ReceivedBatch | None:
        try:
            batch = decode_batch(message.payload)
        except WireError as error:
            logger.warning("rejected a batch on %s: %s", message.topic, error)
            return None
        strangers = {(e.site, e.gate) for e in batch.entries} - {(site, gate)}
        if (batch.site, batch.gate) != (site, gate) or strangers:
            logger.warning("rejected a batch on %s: site/gate differ from the topic", message.topic)
            return None
        for refused in batch.refused:
            logger.warning(
                "refused entry %s from %s/%s, kept aside: %s",
                refused.id or "without a readable id",
                site,
                gate,
                refused.reason,
            )
        return ReceivedBatch(batch, received_at)

    def _store(self, engine: Engine, key: tuple[str, ...], received: list[ReceivedBatch]) -> None:
        """Store the batches in one transaction, then acknowledge each. If that fails, each
        is tried alone, so one batch that cannot be stored never holds back the others."""
        if not received:
            return
        try:
            write_batches(engine, received, key=key)
        except StorageError as error:
            if len(received) > 1:
                for item in received:
                    self._store(engine, key, [item])
                return
            batch = received[0].batch
            logger.warning(
                "could not store a batch from %s/%s (not acked): %s", batch.site, batch.gate, error
            )
            return
        for item in received:
            ids, revisions = item.batch.acknowledged()
            if ids:
                self._acknowledge(item.batch.site, item.batch.gate, ids, revisions)

    def _acknowledge(self, site: str, gate: str, ids: list[str], revisions: list[int]) -> None:
        """Tell the gate these revisions of these entries are stored (only after the commit)."""
        ack_topic = Topics(prefix=self._prefix, site=site, gate=gate).ack
        try:
            self._client.send(ack_topic, encode_ack(ids, revisions))
        except MqttError as error:
            # Stored but not acknowledged: the gateway resends and is acknowledged then.
            logger.info("could not acknowledge a batch from %s/%s: %s", site, gate, error)
            return
        with self._counting:
            self.batches += 1
            self.entries += len(ids)
        logger.debug("stored and acked %d entries from %s/%s", len(ids), site, gate)

    def _handle_state(
        self, engine: Engine, message: Message, received_at: datetime, site: str, gate: str
    ) -> None:
        if not message.payload:
            return  # a cleared retained message: nothing to record
        try:
            state = decode_state(message.payload)
        except WireError as error:
            logger.warning("ignored a state message on %s: %s", message.topic, error)
            return
        # A retained message (delivered on subscribing) is news about the gate, not contact.
        seen_at = None if message.retain else received_at
        try:
            write_state(engine, site=site, gate=gate, message=state, seen_at=seen_at)
        except StorageError as error:
            logger.warning("could not store the state of %s/%s: %s", site, gate, error)
