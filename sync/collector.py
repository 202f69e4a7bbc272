"""Community-server side of sync: store every batch idempotently, then acknowledge it.

paho's network thread only queues messages; one named worker thread validates them, writes
each batch in one transaction and publishes the ack only after the commit. A batch that is
invalid or cannot be stored is not acknowledged, so the gateway sends it again.
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

from sync.collector_store import create_collector_engine, create_tables, save_state, store_batch
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
from sync.wire import WireError, decode_batch, decode_state, encode_ack

logger = logging.getLogger(__name__)


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
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._database_url = database_url
        self._prefix = prefix
        self._clock = clock
        self._client = MqttClient(
            MqttSettings(host=host, port=port, username=username, password=password, tls=tls),
            client_id=client_id,
        )
        self._inbox: queue.Queue[Message | None] = queue.Queue()
        self._engine: Engine | None = None
        self._worker: threading.Thread | None = None

    @property
    def connected(self) -> bool:
        return self._client.connected

    def start(self) -> None:
        """Create the tables, start the worker, then connect and subscribe."""
        engine = create_collector_engine(self._database_url)
        create_tables(engine)
        self._engine = engine
        self._worker = threading.Thread(target=self._work, args=(engine,), name="collector-worker")
        self._worker.start()
        # The inbox is unbounded on purpose: each gateway keeps only a small window of batches
        # in flight, and blocking paho's thread would stall keepalives for every gate.
        self._client.subscribe(collector_subscription(self._prefix), self._inbox.put)
        self._client.subscribe(state_subscription(self._prefix), self._inbox.put)
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

    def _work(self, engine: Engine) -> None:
        while (message := self._inbox.get()) is not None:
            try:
                self._handle(engine, message)
            except Exception:
                logger.exception("failed to handle a message on %s", message.topic)

    def _handle(self, engine: Engine, message: Message) -> None:
        try:
            address = parse_topic(message.topic, prefix=self._prefix)
        except TopicError as error:
            logger.warning("ignored a message: %s", error)
            return
        if address.gate is None:
            return
        if address.kind is TopicKind.ENTRIES:
            self._handle_batch(engine, message, address.site, address.gate)
        elif address.kind is TopicKind.STATE:
            self._handle_state(engine, message, address.site, address.gate)

    def _handle_batch(self, engine: Engine, message: Message, site: str, gate: str) -> None:
        try:
            batch = decode_batch(message.payload)
        except WireError as error:
            logger.warning("rejected a batch on %s: %s", message.topic, error)
            return
        strangers = {(e.site, e.gate) for e in batch.entries} - {(site, gate)}
        if (batch.site, batch.gate) != (site, gate) or strangers:
            logger.warning("rejected a batch on %s: site/gate differ from the topic", message.topic)
            return
        try:
            with Session(engine) as session, session.begin():
                store_batch(session, batch=batch, received_at=self._clock())
        except SQLAlchemyError as error:
            logger.warning("could not store a batch from %s/%s (not acked): %s", site, gate, error)
            return
        ack_topic = Topics(prefix=self._prefix, site=site, gate=gate).ack
        try:
            self._client.send(ack_topic, encode_ack(batch.ids))
        except MqttError as error:
            # Stored but not acknowledged: the gateway resends and is acknowledged then.
            logger.info("could not acknowledge a batch from %s/%s: %s", site, gate, error)
            return
        logger.debug("stored and acked %d entries from %s/%s", len(batch.entries), site, gate)

    def _handle_state(self, engine: Engine, message: Message, site: str, gate: str) -> None:
        if not message.payload:
            return  # a cleared retained message: nothing to record
        try:
            state = decode_state(message.payload)
        except WireError as error:
            logger.warning("ignored a state message on %s: %s", message.topic, error)
            return
        # A retained message (delivered on subscribing) is news about the gate, not contact.
        seen_at = None if message.retain else self._clock()
        try:
            with Session(engine) as session, session.begin():
                save_state(session, site=site, gate=gate, message=state, seen_at=seen_at)
        except SQLAlchemyError as error:
            logger.warning("could not store the state of %s/%s: %s", site, gate, error)
