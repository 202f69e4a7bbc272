"""Community-server side of sync: store every batch idempotently, then acknowledge it.

The network thread only queues messages (stamped with their arrival time); one named worker
thread validates them, writes each batch in one transaction and publishes the ack only after
the commit. A batch that is invalid or cannot be stored is not acknowledged, so the gateway
sends it again; a collector that dies between commit and ack causes only that resend.

Several collectors share the load through one MQTT 5 shared subscription; each needs its own
client id. By default a collector's session ends with its connection (`session_expiry_s` 0):
brokers such as Mosquitto keep handing an absent member its share of a shared subscription
for as long as its session lives, where those batches would wait until the gateways resend
them. Without a session the live collectors get everything at once, and a restarted one
simply receives the gateways' resends.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from sync.batch import decode_batch
from sync.collector_store import (
    create_collector_engine,
    create_tables,
    entry_key,
    save_state,
    store_batch,
)
from sync.mqtt import Message, MqttClient, MqttError, MqttSettings, Tls
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

# A message and the collector's clock when it arrived; None stops the worker.
_Arrival = tuple[Message, datetime] | None


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Collector:
    """Subscribes to all gates' entries (shared) and states, stores them, acknowledges batches."""

    def __init__(
        self,
        database_url: str,
        host: str,
        port: int,
        *,
        prefix: str = DEFAULT_PREFIX,
        client_id: str = "checkpoint-collector",
        username: str | None = None,
        password: str | None = None,
        tls: Tls | None = None,
        session_expiry_s: int = SESSION_EXPIRY_S,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._database_url = database_url
        self._prefix = prefix
        self._clock = clock
        self._client = MqttClient(
            MqttSettings(
                host=host,
                port=port,
                username=username,
                password=password,
                tls=tls,
                session_expiry_s=session_expiry_s,
            ),
            client_id=client_id,
        )
        self._inbox: queue.Queue[_Arrival] = queue.Queue()
        self._engine: Engine | None = None
        self._worker: threading.Thread | None = None
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
        key = entry_key(engine)
        self._worker = threading.Thread(
            target=self._work, args=(engine, key), name="collector-worker"
        )
        self._worker.start()
        # The inbox is unbounded on purpose: each gateway keeps only a small window of batches
        # in flight, and blocking the network thread would stall keepalives for every gate.
        self._client.subscribe(collector_subscription(self._prefix), self._arrived)
        self._client.subscribe(state_subscription(self._prefix), self._arrived)
        self._client.start()

    def stop(self) -> None:
        """Finish the queued messages (and their acks), disconnect, close the database."""
        if self._worker is not None:
            self._inbox.put(None)
            self._worker.join()
            self._worker = None
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

    def _work(self, engine: Engine, key: tuple[str, ...]) -> None:
        while (arrival := self._inbox.get()) is not None:
            message, received_at = arrival
            try:
                self._handle(engine, key, message, received_at)
            except Exception:
                logger.exception("failed to handle a message on %s", message.topic)

    def _handle(
        self, engine: Engine, key: tuple[str, ...], message: Message, received_at: datetime
    ) -> None:
        try:
            address = parse_topic(message.topic, prefix=self._prefix)
        except TopicError as error:
            logger.warning("ignored a message: %s", error)
            return
        if address.gate is None:
            return
        if address.kind is TopicKind.ENTRIES:
            self._handle_batch(engine, key, message, received_at, address.site, address.gate)
        elif address.kind is TopicKind.STATE:
            self._handle_state(engine, message, received_at, address.site, address.gate)

    def _handle_batch(
        self,
        engine: Engine,
        key: tuple[str, ...],
        message: Message,
        received_at: datetime,
        site: str,
        gate: str,
    ) -> None:
        try:
            batch = decode_batch(message.payload)
        except WireError as error:
            logger.warning("rejected a batch on %s: %s", message.topic, error)
            return
        strangers = {(e.site, e.gate) for e in batch.entries} - {(site, gate)}
        if (batch.site, batch.gate) != (site, gate) or strangers:
            logger.warning("rejected a batch on %s: site/gate differ from the topic", message.topic)
            return
        for refused in batch.refused:
            logger.warning(
                "refused entry %s from %s/%s, kept aside: %s",
                refused.id or "without a readable id",
                site,
                gate,
                refused.reason,
            )
        try:
            with Session(engine) as session, session.begin():
                store_batch(session, batch=batch, received_at=received_at, key=key)
        except SQLAlchemyError as error:
            logger.warning("could not store a batch from %s/%s (not acked): %s", site, gate, error)
            return
        ids, revisions = batch.acknowledged()
        if ids:
            self._acknowledge(site, gate, ids, revisions)

    def _acknowledge(self, site: str, gate: str, ids: list[str], revisions: list[int]) -> None:
        """Tell the gate these revisions of these entries are stored (only after the commit)."""
        ack_topic = Topics(prefix=self._prefix, site=site, gate=gate).ack
        try:
            self._client.send(ack_topic, encode_ack(ids, revisions))
        except MqttError as error:
            # Stored but not acknowledged: the gateway resends and is acknowledged then.
            logger.info("could not acknowledge a batch from %s/%s: %s", site, gate, error)
            return
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
            with Session(engine) as session, session.begin():
                save_state(session, site=site, gate=gate, message=state, seen_at=seen_at)
        except SQLAlchemyError as error:
            logger.warning("could not store the state of %s/%s: %s", site, gate, error)
