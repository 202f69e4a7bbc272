"""Gateway side of sync: send unsynced entries in order, mark them synced on the ack.

Store before forward: entries come from the durable `Outbox`, are marked synced only when the
collector's ack names them, and are resent when no ack arrives in time. After a reconnect the
publisher starts again from the lowest unsynced entry; duplicates are harmless (the collector
stores by entry id), gaps are impossible.

Flow control: the backlog stays on disk. At most `window` batches are in flight, each of at
most `batch_size` entries and `max_batch_bytes` bytes, read from the outbox as the window
opens; nothing waits in paho's queue while the connection is down, so an outage of days
costs disk, not memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from gateway.core.ports import ANY_REVISION, Outbox, OutboxItem
from gateway.core.values import DeviceHealth
from sync.batch import batch_overhead, encode_wire_batch
from sync.mqtt import Message, MqttClient, MqttError, MqttSettings, PublishRefusedError, Will
from sync.topics import Topics
from sync.wire import (
    GatewayState,
    SendClock,
    WireError,
    decode_ack,
    encode_state,
    offline_will,
)

logger = logging.getLogger(__name__)

STATE_INTERVAL_S = 30.0
POLL_INTERVAL_S = 30.0
OFFLINE_NOTICE_TIMEOUT_S = 2.0
MAX_BATCH_BYTES = 256 * 1024


def gateway_client_id(topics: Topics) -> str:
    """The stable client id of a gate, so the broker can keep its session across reconnects."""
    return f"checkpoint-{topics.site}-{topics.gate}"


def gateway_client(settings: MqttSettings, topics: Topics) -> MqttClient:
    """The gateway's MQTT client; its last will marks the gate offline (retained, QoS 1)."""
    return MqttClient(
        settings,
        client_id=gateway_client_id(topics),
        will=Will(topic=topics.state, payload=offline_will()),
    )


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class _Batch:
    """Entries sent together and not yet acknowledged, with the loop time to resend them.

    Each entry carries its wire JSON from the outbox, so a resend encodes nothing.
    """

    entries: list[OutboxItem]
    deadline: float
    acked: set[str] = field(default_factory=set)

    def settle(self, acked: Mapping[str, int]) -> None:
        """Take acks: entry id -> the newest revision stored."""
        for entry in self.entries:
            revision = acked.get(entry.id)
            if revision is not None and revision >= entry.revision:
                self.acked.add(entry.id)

    @property
    def done(self) -> bool:
        return len(self.acked) == len(self.entries)

    def unacked(self) -> list[bytes]:
        return [entry.wire for entry in self.entries if entry.id not in self.acked]


class Publisher:
    """Moves entries from the outbox to the collector; one `run()` per instance.

    At most `window` batches of up to `batch_size` entries and `max_batch_bytes` bytes (a
    single larger entry goes alone) await the collector's ack; a batch without an ack after
    `ack_timeout_s` is sent again. With `boot_id`, each batch also carries this boot and the
    `monotonic_ns()` time of sending, so the collector can correct a wrong wall clock.
    `devices` is called on the event loop for each state message, so it must be quick.
    """

    def __init__(
        self,
        outbox: Outbox,
        client: MqttClient,
        topics: Topics,
        *,
        version: str,
        devices: Callable[[], Iterable[DeviceHealth]] = lambda: (),
        health: Callable[[], Mapping[str, object]] | None = None,
        batch_size: int = 100,
        max_batch_bytes: int = MAX_BATCH_BYTES,
        window: int = 64,
        ack_timeout_s: float = 10.0,
        state_interval_s: float = STATE_INTERVAL_S,
        poll_interval_s: float = POLL_INTERVAL_S,
        clock: Callable[[], datetime] = _utc_now,
        boot_id: str | None = None,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        if batch_size < 1 or window < 1 or ack_timeout_s <= 0:
            raise ValueError("batch_size and window must be at least 1, ack_timeout_s positive")
        overhead = batch_overhead(site=topics.site, gate=topics.gate, boot_id=boot_id)
        if max_batch_bytes <= overhead:
            raise ValueError(f"max_batch_bytes must exceed the batch envelope ({overhead} bytes)")
        self._outbox = outbox
        self._client = client
        self._topics = topics
        self._version = version
        self._devices = devices
        self._health = health
        self._batch_size = batch_size
        self._entry_bytes = max_batch_bytes - overhead  # what the entries of a batch may take
        self._window = window
        self._ack_timeout_s = ack_timeout_s
        self._state_interval_s = state_interval_s
        self._poll_interval_s = poll_interval_s
        self._clock = clock
        self._boot_id = boot_id
        self._monotonic_ns = monotonic_ns
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._batches: list[_Batch] = []
        self._cursor = 0  # where the next outbox read starts on this connection
        self._sent_to = 0  # highest seq handed to a batch on this connection
        self._rewind: int | None = None  # lowest seq amended since the last fill
        self._acks: list[tuple[list[str], list[int] | None]] = []
        self._unsettled: dict[str, int] = {}  # acked, not yet marked synced in the outbox
        self._settling: asyncio.Task[None] | None = None
        self._connections = 0  # successful connects seen by the network thread
        self._served = 0  # the connect the in-flight state belongs to
        self._next_state = 0.0
        # Counted in entries: accepted by the broker (resends included), newly marked synced
        # on the collector's ack, and sent again for want of an ack.
        self.sent = 0
        self.acked = 0
        self.resent = 0

    @property
    def connected(self) -> bool:
        return self._client.connected

    @property
    def in_flight(self) -> int:
        """Entries sent and waiting for the collector's ack."""
        return sum(len(batch.entries) - len(batch.acked) for batch in self._batches)

    def notify(self) -> None:
        """New entries were committed: look at the outbox now. Safe from any thread."""
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop has closed: nothing to wake
            loop.call_soon_threadsafe(self._wake.set)

    def notify_amended(self, seq: int) -> None:
        """The entry with this `seq` has a new revision (a guard's action) to be sent again,
        although its seq may lie behind what was sent. Safe from any thread."""
        loop = self._loop
        if loop is None:
            return  # not running: the next run starts from the beginning of the outbox
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._amended, seq)

    def refresh_state(self) -> None:
        """Something the state message reports changed: publish it at the next turn.

        Call from the event loop (e.g. after a remote policy was applied or rejected).
        """
        self._next_state = 0.0
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Sync until `stop` is set; then publish an offline state if still connected."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._client.add_connection_listener(self._on_connection)
        self._client.subscribe(self._topics.ack, self._on_ack_message)
        stop_waiter = loop.create_task(stop.wait())
        stop_waiter.add_done_callback(lambda _: self._wake.set())
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    timeout = await self._step(loop.time())
                except Exception:
                    # e.g. the database failed; unacked batches are resent, nothing is lost.
                    logger.exception("sync round failed; retrying in %.0f s", self._poll_interval_s)
                    timeout = self._poll_interval_s
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
            await self._say_offline()
        finally:
            stop_waiter.cancel()
            await self._finish_settling()
            self._loop = None

    async def _finish_settling(self) -> None:
        """Mark synced what was acknowledged before stopping (else it is merely resent)."""
        if self._settling is not None:
            await self._settling
        await self._apply_acks()
        if self._settling is not None:
            await self._settling

    async def _step(self, now: float) -> float:
        """One round of work; returns how long to sleep unless woken earlier."""
        await self._apply_acks()
        if not self._client.connected:
            self._reset()
            return self._poll_interval_s
        try:
            if self._served != self._connections:
                self._reset()
                self._served = self._connections
                self._next_state = now
            if now >= self._next_state:
                await self._publish_state()
                self._next_state = now + self._state_interval_s
            self._resend_overdue(now)
            await self._fill_window(now)
        except MqttError as error:
            # The connection dropped mid-round; the next connect starts over.
            logger.info("sync paused: %s", error)
            return self._poll_interval_s
        deadlines = [batch.deadline for batch in self._batches]
        wake_at = min([self._next_state, now + self._poll_interval_s, *deadlines])
        return max(wake_at - now, 0.0)

    def _reset(self) -> None:
        self._batches.clear()
        self._cursor = self._sent_to = 0

    async def _apply_acks(self) -> None:
        """Take every ack that has arrived: batches in flight settle at once, the outbox in
        the background (one settling at a time), so sending goes on meanwhile."""
        if self._acks:
            # Every id in an ack on our topic is stored at the collector, whether or not it
            # belongs to a batch of this connection.
            acks, self._acks = self._acks, []
            for ids, revisions in acks:
                stored = revisions if revisions is not None else [ANY_REVISION] * len(ids)
                _merge(self._unsettled, zip(ids, stored, strict=True))
            for batch in self._batches:
                batch.settle(self._unsettled)
            self._batches = [batch for batch in self._batches if not batch.done]
        if self._unsettled and (self._settling is None or self._settling.done()):
            newest, self._unsettled = self._unsettled, {}
            self._settling = asyncio.get_running_loop().create_task(self._settle(newest))

    async def _settle(self, newest: dict[str, int]) -> None:
        try:
            self.acked += await asyncio.to_thread(self._mark_synced, newest)
        except Exception:
            # e.g. the database failed: keep the acks for the next round; at worst the
            # entries are sent again, which the collector absorbs.
            logger.exception("could not mark %d acknowledged entries synced", len(newest))
            _merge(self._unsettled, newest.items())
            return
        self._wake.set()

    def _mark_synced(self, newest: dict[str, int]) -> int:
        """Settle acked entries in the outbox (in a worker thread); how many were pending."""
        return self._outbox.mark_synced(ids=list(newest), revisions=list(newest.values()))

    def _resend_overdue(self, now: float) -> None:
        for batch in self._batches:
            if batch.deadline <= now:
                encoded = batch.unacked()
                logger.info(
                    "no ack for %d entries after %.1f s; resending",
                    len(encoded),
                    self._ack_timeout_s,
                )
                self._send(encoded)
                batch.deadline = now + self._ack_timeout_s
                self.resent += len(encoded)

    async def _fill_window(self, now: float) -> None:
        if self._rewind is not None:
            # Amended entries keep their seq: look again from the first of them, skipping
            # what is in flight already in the same revision.
            self._cursor = min(self._cursor, self._rewind - 1)
            self._rewind = None
        # Only behind what was sent can an entry be in flight already.
        in_flight = self._in_flight() if self._cursor < self._sent_to else set()
        while len(self._batches) < self._window:
            # One read for all the free slots (acks come in groups): fewer trips to the thread.
            limit = self._batch_size * (self._window - len(self._batches))
            entries = await asyncio.to_thread(
                self._outbox.pending, after_seq=self._cursor, limit=limit
            )
            if not entries:
                return
            fresh = [entry for entry in entries if (entry.id, entry.revision) not in in_flight]
            if not fresh:
                self._cursor = entries[-1].seq
                continue
            while fresh and len(self._batches) < self._window:
                taken = self._fit(fresh[: self._batch_size])
                self._send([entry.wire for entry in taken])
                self._batches.append(_Batch(entries=taken, deadline=now + self._ack_timeout_s))
                self._cursor = taken[-1].seq
                self._sent_to = max(self._sent_to, self._cursor)
                fresh = fresh[len(taken) :]
            if len(entries) < limit:
                return  # the outbox had no more

    def _in_flight(self) -> set[tuple[str, int]]:
        """Each entry sent and not yet acknowledged, in the revision sent."""
        return {
            (entry.id, entry.revision)
            for batch in self._batches
            for entry in batch.entries
            if entry.id not in batch.acked
        }

    def _fit(self, entries: Sequence[OutboxItem]) -> list[OutboxItem]:
        """The leading entries whose batch stays within the byte limit (at least one)."""
        taken: list[OutboxItem] = []
        size = 0
        for entry in entries:
            size += len(entry.wire) + (1 if taken else 0)  # a comma between entries
            if size > self._entry_bytes:
                if taken:
                    break
                logger.warning("entry %s alone exceeds the batch byte limit; sent alone", entry.id)
            taken.append(entry)
        return taken

    def _send(self, encoded: Sequence[bytes]) -> None:
        clock = (
            None
            if self._boot_id is None
            else SendClock(boot_id=self._boot_id, monotonic_ns=self._monotonic_ns())
        )
        payload = encode_wire_batch(
            site=self._topics.site,
            gate=self._topics.gate,
            entries=encoded,
            sent_at=self._clock(),
            clock=clock,
        )
        puback = self._client.publish(self._topics.entries, payload)
        puback.add_done_callback(partial(self._count_sent, len(encoded)))

    def _count_sent(self, count: int, puback: asyncio.Future[None]) -> None:
        if puback.cancelled():
            return
        error = puback.exception()
        if error is None:
            self.sent += count
        elif isinstance(error, PublishRefusedError):
            logger.warning("broker refused a batch of %d entries: %s", count, error)

    async def _publish_state(self) -> None:
        payload = await self._state_payload(online=True)
        puback = self._client.publish(self._topics.state, payload, retain=True)
        puback.add_done_callback(_log_refusal)

    async def _say_offline(self) -> None:
        # A clean DISCONNECT suppresses the last will, so say it ourselves.
        if not self._client.connected:
            return
        try:
            payload = await self._state_payload(online=False)
            puback = self._client.publish(self._topics.state, payload, retain=True)
            await asyncio.wait_for(puback, OFFLINE_NOTICE_TIMEOUT_S)
        except (MqttError, TimeoutError) as error:
            logger.info("could not publish the offline state: %s", error)
        except Exception:
            # The last act of the worker: report, never raise out of it.
            logger.exception("could not build the offline state")

    async def _state_payload(self, *, online: bool) -> bytes:
        backlog = await asyncio.to_thread(self._outbox.backlog)
        health = await asyncio.to_thread(self._health) if self._health else None
        return encode_state(
            GatewayState(
                online=online,
                version=self._version,
                backlog=backlog.count,
                oldest_unsynced=backlog.oldest,
                devices=tuple(self._devices()),
                health=health,
            )
        )

    def _on_connection(self, connected: bool) -> None:
        # The network thread: only hand over to the event loop.
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._connection_changed, connected)

    def _connection_changed(self, connected: bool) -> None:
        if connected:
            self._connections += 1
        self._wake.set()

    def _on_ack_message(self, message: Message) -> None:
        # The network thread: decode here (pure), apply on the event loop.
        try:
            ack = decode_ack(message.payload)
        except WireError as error:
            logger.warning("ignored a message on %s: %s", message.topic, error)
            return
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._ack_received, list(ack.ids), ack.revisions)

    def _ack_received(self, ids: list[str], revisions: list[int] | None) -> None:
        self._acks.append((ids, revisions))
        self._wake.set()

    def _amended(self, seq: int) -> None:
        self._rewind = seq if self._rewind is None else min(self._rewind, seq)
        self._wake.set()


def _merge(newest: dict[str, int], acked: Iterable[tuple[str, int]]) -> None:
    """Keep, per entry id, the newest revision acknowledged."""
    for entry_id, revision in acked:
        newest[entry_id] = max(revision, newest.get(entry_id, revision))


def _log_refusal(puback: asyncio.Future[None]) -> None:
    if not puback.cancelled() and isinstance(puback.exception(), PublishRefusedError):
        error = puback.exception()
        logger.warning("broker refused the state message: %s", error)
