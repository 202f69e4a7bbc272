"""Benchmark: sync throughput from a gateway through Mosquitto into collectors on PostgreSQL.

    .venv/bin/python -m benchmarks.sync_drain [--entries 100000] [--ingest 60000] [--json]

1. Backlog drain: `--entries` entries wait in a gateway database (recorded offline); the real
   publisher (batches of 100, 64 in flight) sends them to one collector process storing into
   PostgreSQL (fsync on); entries per second until the gateway's backlog is empty.
2. Its ceiling, measured in the same run: the very same batch payloads published with plain
   paho at QoS 1 (20 in flight, like the gateway's client) and taken by one subscriber.
3. The gateway's side alone: the same drain acknowledged by a stand-in that stores nothing
   and acks each batch at once (what peers that wait only for the broker's PUBACK measure).
4. Collector ingest with 1 and with 2 collector processes in the shared subscription: 20
   simulated gates keep 16 batches each in flight and send the next one on each ack; entries
   acknowledged per second, all of them stored.

5. Recording at the gate: passages committed one by one, each fsynced, as the service does.

Mosquitto and PostgreSQL are private instances in a temporary directory. With `--json` the
figures are printed as one JSON object instead of the table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import psycopg
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from psycopg import sql

from gateway.core.values import CodeCheck, CodeStatus, Decision, Direction, Entry, NewEntry
from gateway.runtime.clock import uuid7
from gateway.storage import entries as entry_access
from gateway.storage.store import EntryStore
from harness.broker import Broker
from harness.postgres import Postgres
from harness.sync import RunningPublisher, collected_ids
from harness.waiting import wait_until
from sync.batch import encode_batch, encode_wire_batch
from sync.topics import Topics
from sync.wire import decode_ack

PREFIX = "checkpoint/v1"
SITE = "bench"
BATCH = 100
WINDOW = 64
START = datetime(2025, 3, 1, 7, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[1]


def passage(index: int, gate: str) -> NewEntry:
    at = START + timedelta(seconds=index)
    return NewEntry(
        id=uuid7(at),  # time-ordered, as the gate makes them
        gate=gate,
        site=SITE,
        lane="1",
        direction=Direction.IN,
        occurred_at=at,
        clock_synced=True,
        boot_id="9a7c1d2e-3f40-4b5c-8d6e-7f8091a2b3c4",
        monotonic_ns=5_000_000_000_000 + index * 1_000_000,
        code_format="community-pass",
        code_check=CodeCheck.VALID,
        code_status=CodeStatus.GREEN,
        subject=f"s-{index:08d}",
        subject_label="张*华 3-2-501",
        payload_digest="ab" * 32,
        temperature_c=36.4,
        temperature_source="uvc-y16",
        remeasured=False,
        decision=Decision.ADMIT,
        reasons=("ok",),
    )


def fill(store: EntryStore, count: int, gate: str) -> None:
    """Record `count` entries through the storage layer, many per transaction."""
    for first in range(0, count, 2000):
        with store.transaction() as session:
            for index in range(first, min(count, first + 2000)):
                entry_access.add_entry(session, entry=passage(index, gate))


def payloads(store: EntryStore, topics: Topics) -> list[bytes]:
    """The batches the publisher sends, in order, as bytes."""
    batches = []
    cursor = 0
    while chunk := store.pending(after_seq=cursor, limit=BATCH):
        wires = [item.wire for item in chunk]
        batches.append(
            encode_wire_batch(site=topics.site, gate=topics.gate, entries=wires, sent_at=START)
        )
        cursor = chunk[-1].seq
    return batches


def _client(port: int, client_id: str) -> paho.Client:
    client = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    client.max_inflight_messages_set(20)
    client.max_queued_messages_set(0)
    connected = threading.Event()
    client.on_connect = lambda *_: connected.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    if not connected.wait(10):
        raise TimeoutError("no connection to the broker")
    return client


def raw_publish_rate(port: int, topic: str, batches: list[bytes]) -> float:
    """Seconds plain paho needs to publish `batches` at QoS 1 to one QoS 1 subscriber."""
    received = threading.Semaphore(0)
    acked = threading.Semaphore(0)
    subscriber = _client(port, "bench-subscriber")
    subscribed = threading.Event()
    subscriber.on_subscribe = lambda *_: subscribed.set()
    subscriber.on_message = lambda *_: received.release()
    subscriber.subscribe(topic, qos=1)
    subscribed.wait(10)
    publisher = _client(port, "bench-publisher")
    publisher.on_publish = lambda *_: acked.release()
    started = time.perf_counter()
    for payload in batches:
        publisher.publish(topic, payload, qos=1)
    for _ in batches:
        acked.acquire()
        received.acquire()
    elapsed = time.perf_counter() - started
    for client in (publisher, subscriber):
        client.disconnect()
        client.loop_stop()
    return elapsed


@contextmanager
def collectors(url: str, port: int, count: int, workdir: Path) -> Iterator[list[Path]]:
    """`count` collector processes in the shared subscription; yields their status files."""
    processes = []
    statuses = []
    for n in range(count):
        status = workdir / f"collector-{uuid.uuid4().hex[:6]}.json"
        statuses.append(status)
        command = [
            sys.executable, "-m", "harness.collector_process",
            url, str(port), f"bench-collector-{n}", str(status),
        ]  # fmt: skip
        processes.append(subprocess.Popen(command, cwd=REPO))
    try:
        wait_until(lambda: all(s.exists() for s in statuses), what="collectors", timeout=30)
        time.sleep(1.0)  # subscribed
        yield statuses
    finally:
        for process in processes:
            process.terminate()
            process.wait(30)


def database(cluster: Postgres, name: str) -> str:
    with psycopg.connect(cluster.url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return cluster.url.rsplit("/", 1)[0] + f"/{name}"


@contextmanager
def instant_acker(port: int, topics: Topics, workdir: Path) -> Iterator[None]:
    """A stand-in collector process that acks every batch at once and stores nothing."""
    ready = workdir / f"acker-ready-{uuid.uuid4().hex[:6]}"
    command = [
        sys.executable, "-m", "harness.instant_acker",
        str(port), topics.entries, topics.ack, str(ready),
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO)
    try:
        wait_until(ready.exists, what="the instant acker", timeout=30)
        yield
    finally:
        process.terminate()
        process.wait(30)


def gateway_side(broker: Broker, workdir: Path, count: int) -> float:
    """Entries per second the gateway drains when every ack comes at once."""
    topics = Topics(PREFIX, SITE, "gate-alone")
    store = EntryStore.open(workdir / "gateway-alone.db")
    fill(store, count, topics.gate)
    try:
        with instant_acker(broker.port, topics, workdir):
            started = time.perf_counter()
            running = RunningPublisher(store, broker, topics, batch_size=BATCH, window=WINDOW)
            running.start()
            wait_until(lambda: running.publisher.acked >= count, what="the drain", timeout=3600)
            elapsed = time.perf_counter() - started
            running.stop()
    finally:
        store.close()
    return count / elapsed


def drain(broker: Broker, cluster: Postgres, workdir: Path, count: int) -> dict[str, float]:
    topics = Topics(PREFIX, SITE, "gate-1")
    store = EntryStore.open(workdir / "gateway.db")
    started = time.perf_counter()
    fill(store, count, topics.gate)
    filled = time.perf_counter() - started
    batches = payloads(store, topics)
    url = database(cluster, "drain")
    with collectors(url, broker.port, 1, workdir):
        # A topic no collector subscribes to: the broker's work, none of the collector's.
        ceiling = raw_publish_rate(broker.port, "bench/raw", batches)
        started = time.perf_counter()
        running = RunningPublisher(store, broker, topics, batch_size=BATCH, window=WINDOW)
        running.start()
        # Counted in memory: polling the backlog would load the gateway's database.
        wait_until(lambda: running.publisher.acked >= count, what="the drain", timeout=3600)
        elapsed = time.perf_counter() - started
        running.stop()
    stored = len(set(collected_ids(url)))
    store.close()
    if stored != count:
        raise AssertionError(f"{stored} of {count} entries at the collector")
    return {
        "fill_per_s": count / filled,
        "drain_per_s": count / elapsed,
        "drain_s": elapsed,
        "ceiling_per_s": count / ceiling,
        "ceiling_mb_per_s": sum(len(b) for b in batches) / ceiling / 1e6,
        "batch_bytes": sum(len(b) for b in batches) / len(batches),
    }


class Gates:
    """Simulated gates: each keeps WINDOW batches in flight and sends one more per ack."""

    def __init__(self, port: int, gates: int, per_gate: int) -> None:
        self.queues: dict[str, list[bytes]] = {}
        self.total = gates * per_gate
        for g in range(gates):
            gate = f"gate-{g + 1}"
            entries = [_entry(i, gate) for i in range(per_gate)]
            self.queues[gate] = [
                encode_batch(site=SITE, gate=gate, entries=entries[i : i + BATCH], sent_at=START)
                for i in range(0, per_gate, BATCH)
            ]
        self.acked = 0
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._client = _client(port, "bench-gates")
        self._client.on_message = self._on_ack
        subscribed = threading.Event()
        self._client.on_subscribe = lambda *_: subscribed.set()
        self._client.subscribe(f"{PREFIX}/{SITE}/+/ack", qos=1)
        subscribed.wait(10)

    def run(self) -> float:
        started = time.perf_counter()
        for gate in self.queues:
            for _ in range(WINDOW):
                self._send_next(gate)
        if not self.done.wait(3600):
            raise TimeoutError("ingest did not finish")
        elapsed = time.perf_counter() - started
        self._client.disconnect()
        self._client.loop_stop()
        return elapsed

    def _send_next(self, gate: str) -> None:
        with self._lock:
            queue = self.queues[gate]
            payload = queue.pop(0) if queue else None
        if payload is not None:
            self._client.publish(f"{PREFIX}/{SITE}/{gate}/entries", payload, qos=1)

    def _on_ack(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        gate = message.topic.split("/")[-2]
        with self._lock:
            self.acked += len(decode_ack(bytes(message.payload)).ids)
            finished = self.acked >= self.total
        if finished:
            self.done.set()
        else:
            self._send_next(gate)


def _entry(index: int, gate: str) -> Entry:
    new = passage(index, gate)
    return Entry(**{name: getattr(new, name) for name in new.__dataclass_fields__}, seq=index + 1)


def ingest(
    broker: Broker, cluster: Postgres, workdir: Path, count: int, processes: int, say: Any
) -> float:
    gates = 20
    url = database(cluster, f"ingest{processes}")
    load = Gates(broker.port, gates, count // gates)
    with collectors(url, broker.port, processes, workdir) as statuses:
        elapsed = load.run()
    shares = [json.loads(status.read_text())["entries"] for status in statuses]
    stored = len(set(collected_ids(url)))
    if stored != load.total:
        raise AssertionError(f"{stored} of {load.total} entries stored")
    say(f"    {processes} collector(s): shares {shares}")
    return load.total / elapsed


def recording(workdir: Path, count: int) -> float:
    """Passages per second recorded one transaction (one fsync) each, as at the gate."""
    store = EntryStore.open(workdir / "recording.db")
    try:
        started = time.perf_counter()
        for index in range(count):
            store.record(passage(index, "gate-recording"))
        return count / (time.perf_counter() - started)
    finally:
        store.close()


def measure(args: argparse.Namespace, say: Any) -> dict[str, float]:
    workdir = Path(tempfile.mkdtemp(prefix="checkpoint-sync-bench-"))
    pg_dir = Path(tempfile.mkdtemp(prefix="checkpoint-sync-bench-pg-"))
    (workdir / "broker").mkdir()
    broker = Broker(workdir / "broker").start()
    cluster = Postgres(pg_dir, durable=True).start()
    try:
        say(f"backlog drain of {args.entries:,} entries (batches of {BATCH}, {WINDOW} in flight):")
        figures = drain(broker, cluster, workdir, args.entries)
        say(
            f"  gateway → Mosquitto → collector → PostgreSQL: {figures['drain_per_s']:,.0f} "
            f"entries/s ({figures['drain_s']:.1f} s)   (target ≥ 35,000/s on 2 cores)"
        )
        say(
            f"  ceiling, plain paho QoS 1 of the same {figures['batch_bytes'] / 1024:.0f} kB "
            f"batches to one subscriber: {figures['ceiling_per_s']:,.0f} entries/s "
            f"({figures['ceiling_mb_per_s']:.1f} MB/s); drain at "
            f"{figures['drain_per_s'] / figures['ceiling_per_s']:.1%} of it"
        )
        say(f"  (backlog written at {figures['fill_per_s']:,.0f} entries/s)")
        alone = gateway_side(broker, workdir, args.entries)
        say(f"  gateway side alone, every batch acked at once: {alone:,.0f} entries/s")
        say(f"collector ingest of {args.ingest:,} entries from 20 gates:")
        rates = {}
        for processes in (1, 2):
            rates[processes] = ingest(broker, cluster, workdir, args.ingest, processes, say)
            say(f"  {processes} collector(s): {rates[processes]:,.0f} entries/s")
        recorded = recording(workdir, args.passages)
        say(f"recording at the gate, {args.passages:,} passages each fsynced: {recorded:,.0f}/s")
    finally:
        broker.stop()
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(pg_dir, ignore_errors=True)
    return {
        "drain_entries_per_s": round(figures["drain_per_s"]),
        "ceiling_entries_per_s": round(figures["ceiling_per_s"]),
        "drain_to_ceiling": round(figures["drain_per_s"] / figures["ceiling_per_s"], 4),
        "gateway_side_entries_per_s": round(alone),
        "collector_ingest_entries_per_s": round(rates[1]),
        "collector_ingest_2_entries_per_s": round(rates[2]),
        "recording_entries_per_s": round(recorded),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--ingest", type=int, default=60_000)
    parser.add_argument("--passages", type=int, default=2_000)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    say = (lambda _text: None) if args.json else print
    figures = measure(args, say)
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
