"""`checkpoint bench`: measures this computer and says whether it is fast enough for a gate.

- QR decoding per frame, on synthetic 640x480 and 1280x720 frames with and without a code;
- scan-to-verdict latency through the real path: a pass is written to a pty as a serial
  scanner sends it, `checkpoint run` (a separate process) reads, verifies, decides, commits
  the entry (WAL, synchronous=FULL) and pushes the verdict; the clock stops when the verdict
  arrives on the guard screen's event stream;
- durable writes: entries per second, one committed transaction each;
- MQTT round trip: QoS 1 publish to a private Mosquitto and back to a subscriber.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import platform
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import segno

from devices.qr_decode import GrayFrame, decoder
from devices.qr_scenes import code_frame, empty_frame
from gateway.codes.community_pass import issue_pass
from gateway.codes.cose import Algorithm
from gateway.codes.keys import KeyDirectory
from gateway.core.values import CodeCheck, CodeStatus, Decision, Direction, NewEntry
from gateway.operations.private_broker import free_port, mosquitto_binary, private_mosquitto
from gateway.storage.store import EntryStore
from sync.mqtt import Message, MqttClient, MqttSettings

FRAME_SIZES = ((640, 480), (1280, 720))
# About the length of a community pass; the code a camera sees at a gate.
CODE_PAYLOAD = "CP1:" + "6BFOXN*TS0BI$ZD4N9:9S6RCVN5+O30K3/XIV0W23NTDEPWK G2EP4J0B" * 4


@dataclass(frozen=True, slots=True)
class Thresholds:
    """What a gate needs: a camera at 15 fps, a verdict that feels instant, room for bursts."""

    decode_ms: float = 66.0  # one 1280x720 frame with a code, median: keeps up with 15 fps
    verdict_p99_ms: float = 100.0  # scan to verdict on the guard screen
    writes_per_s: float = 50.0  # durable entries; a busy gate sees about one a second
    mqtt_p50_ms: float = 50.0  # QoS 1 round trip on this computer (its share of sync latency)


@dataclass(frozen=True, slots=True)
class Iterations:
    frames: int
    scans: int
    writes: int
    messages: int


FULL = Iterations(frames=30, scans=200, writes=1000, messages=200)
QUICK = Iterations(frames=3, scans=15, writes=50, messages=20)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


# --- decoding ---------------------------------------------------------------------------


def synthetic_frame(width: int, height: int, *, with_code: bool, seed: int = 7) -> GrayFrame:
    """A cluttered camera scene, optionally showing a pass-sized QR code, slightly tilted."""
    rng = np.random.default_rng(seed)
    if not with_code:
        return empty_frame((width, height), rng)
    modules = np.array(segno.make(CODE_PAYLOAD, error="m").matrix, dtype=np.bool_)
    return code_frame(modules, "perspective", (width, height), rng)


def measure_decode(width: int, height: int, *, with_code: bool, frames: int) -> float:
    """Median milliseconds to decode one frame with zxing-cpp (the default decoder)."""
    decode = decoder("zxing")
    frame = synthetic_frame(width, height, with_code=with_code)
    found = decode(frame)
    if with_code and [d.payload for d in found] != [CODE_PAYLOAD.encode()]:
        raise RuntimeError(f"the decoder did not read the code in a {width}x{height} frame")
    times = []
    for _ in range(frames):
        started = time.perf_counter()
        decode(frame)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


# --- scan to verdict ------------------------------------------------------------------------


def measure_latency(workdir: Path, scans: int) -> list[float]:
    """Milliseconds from a scan written to the scanner's port to its verdict on the screen."""
    keys = KeyDirectory.create(
        workdir / "keys", issuer="bench", site="bench", alg=Algorithm.EDDSA, now=datetime.now(UTC)
    )
    signer = keys.signing_key()
    now = datetime.now(UTC)
    passes = [
        issue_pass(
            signing_key=signer.private_key, kid=signer.kid, issuer=signer.issuer,
            subject=f"s{n}", label="张*华", unit="1-1-101", colour=CodeStatus.GREEN,
            issued_at=now - timedelta(days=1), expires_at=now + timedelta(days=1),
        ).encode()
        for n in range(scans)
    ]  # fmt: skip
    master, slave = os.openpty()
    port = free_port()
    config = workdir / "gateway.toml"
    config.write_text(
        '[gate]\nid = "bench"\nsite = "bench"\n'
        f'[storage]\npath = "{workdir / "gateway.db"}"\ntrust_list = "{keys.trust_list_path}"\n'
        f'[[scanners]]\nkind = "serial"\ndevice = "{os.ttyname(slave)}"\n'
        '[thermal]\nkind = "none"\n[policy]\nno_thermal = "admit"\n'
        f'[web]\nlisten = "127.0.0.1:{port}"\n'
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_serving(port, process)
        verdicts = _VerdictStream(port)
        latencies = []
        for payload in passes:
            before = verdicts.count
            sent = time.perf_counter()
            os.write(master, payload + b"\r")
            arrived = verdicts.wait_beyond(before, timeout_s=5)
            latencies.append((arrived - sent) * 1000)
            time.sleep(0.01)
        return latencies
    finally:
        process.terminate()
        process.wait(timeout=10)
        os.close(master)
        os.close(slave)


class _VerdictStream:
    """The guard screen's event stream, read in a thread; remembers when verdicts arrived."""

    def __init__(self, port: int) -> None:
        self._received = threading.Condition()
        self._arrivals: list[float] = []
        self._seen: set[str] = set()
        connected = threading.Event()
        self._thread = threading.Thread(
            target=self._listen, args=(port, connected), name="bench-verdicts", daemon=True
        )
        self._thread.start()
        if not connected.wait(10):
            raise RuntimeError("no connection to the guard screen's event stream")

    @property
    def count(self) -> int:
        with self._received:
            return len(self._arrivals)

    def wait_beyond(self, count: int, *, timeout_s: float) -> float:
        """When the verdict after the first `count` arrived (perf_counter seconds)."""
        with self._received:
            if not self._received.wait_for(lambda: len(self._arrivals) > count, timeout_s):
                raise RuntimeError(f"no verdict within {timeout_s:g} s")
            return self._arrivals[-1]

    def _listen(self, port: int, connected: threading.Event) -> None:
        # Ends when the gateway stops and closes the stream.
        connection = http.client.HTTPConnection("127.0.0.1", port)
        connection.request("GET", "/api/events")
        response = connection.getresponse()
        for line in response:
            if line.startswith(b":"):  # the server's "subscribed" comment
                connected.set()
            if line.startswith(b"data:"):
                # Several events may concern one passage; the first one of each counts.
                passage = json.loads(line[5:])["id"]
                with self._received:
                    if passage not in self._seen:
                        self._seen.add(passage)
                        self._arrivals.append(time.perf_counter())
                        self._received.notify_all()


def _wait_serving(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the gateway exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=1):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise RuntimeError("the gateway did not start within 30 s")


# --- durable writes ---------------------------------------------------------------------


def measure_durable_writes(workdir: Path, count: int) -> float:
    """Entries per second, each committed in its own transaction (WAL, synchronous=FULL)."""
    store = EntryStore.open(workdir / "writes.db")
    template = NewEntry(
        id="", gate="bench", site="bench", lane="1", direction=Direction.IN,
        occurred_at=datetime.now(UTC), clock_synced=True, boot_id="b", monotonic_ns=0,
        code_format="cp1", code_check=CodeCheck.VALID, code_status=CodeStatus.GREEN,
        subject="s", subject_label="张*华", payload_digest="0" * 64, temperature_c=36.5,
        temperature_source="ir", remeasured=False, decision=Decision.ADMIT,
    )  # fmt: skip
    started = time.perf_counter()
    for _ in range(count):
        store.record(dataclasses.replace(template, id=str(uuid.uuid4())))
    elapsed = time.perf_counter() - started
    store.close()
    return count / elapsed


# --- MQTT -------------------------------------------------------------------------------


def measure_mqtt_round_trip(workdir: Path, messages: int) -> list[float] | None:
    """Milliseconds from a QoS 1 publish to its delivery back to a subscriber, on a private
    Mosquitto; None when Mosquitto is not installed."""
    binary = mosquitto_binary()
    if binary is None:
        return None
    with private_mosquitto(binary, workdir) as port:
        inbox: queue.Queue[Message] = queue.Queue()
        connected = threading.Event()
        client = MqttClient(MqttSettings(host="127.0.0.1", port=port), client_id="bench")
        client.add_connection_listener(lambda up: connected.set() if up else None)
        client.subscribe("bench/round-trip", inbox.put)
        client.start()
        try:
            if not connected.wait(10):
                raise RuntimeError("no connection to the private broker")
            times = []
            for n in range(messages):
                started = time.perf_counter()
                client.send("bench/round-trip", str(n).encode())
                while inbox.get(timeout=5).payload != str(n).encode():
                    continue
                times.append((time.perf_counter() - started) * 1000)
            return times
        finally:
            client.stop()


# --- the report -------------------------------------------------------------------------


def run_bench(
    *, quick: bool = False, thresholds: Thresholds = Thresholds(), echo: Callable[[str], None]
) -> bool:
    """Measure, print each figure as it comes, and the verdict; True when fast enough."""
    runs = QUICK if quick else FULL
    echo(f"checkpoint bench on {platform.node()} ({os.cpu_count()} CPUs, {platform.machine()})")
    shortfalls = []
    echo("decode per frame (zxing-cpp, median):")
    for width, height in FRAME_SIZES:
        empty = measure_decode(width, height, with_code=False, frames=runs.frames)
        coded = measure_decode(width, height, with_code=True, frames=runs.frames)
        echo(f"  {width}x{height}: empty {empty:.1f} ms, with a code {coded:.1f} ms")
        if (width, height) == FRAME_SIZES[-1] and coded > thresholds.decode_ms:
            shortfalls.append(f"decoding {width}x{height} takes {coded:.0f} ms")
    with tempfile.TemporaryDirectory(prefix="checkpoint-bench-") as tmp:
        workdir = Path(tmp)
        latencies = measure_latency(workdir, runs.scans)
        p50, p99 = statistics.median(latencies), percentile(latencies, 0.99)
        echo(f"scan-to-verdict over {len(latencies)} scans: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
        if p99 > thresholds.verdict_p99_ms:
            shortfalls.append(f"scan-to-verdict p99 is {p99:.0f} ms")
        rate = measure_durable_writes(workdir, runs.writes)
        echo(f"durable writes: {rate:,.0f} entries per second (one fsynced transaction each)")
        if rate < thresholds.writes_per_s:
            shortfalls.append(f"only {rate:.0f} durable writes per second")
        round_trips = measure_mqtt_round_trip(workdir, runs.messages)
    if round_trips is None:
        echo("MQTT round trip: not measured (mosquitto is not installed)")
    else:
        mqtt_p50, mqtt_p99 = statistics.median(round_trips), percentile(round_trips, 0.99)
        echo(f"MQTT round trip (QoS 1, local broker): p50 {mqtt_p50:.1f} ms, p99 {mqtt_p99:.1f} ms")
        if mqtt_p50 > thresholds.mqtt_p50_ms:
            shortfalls.append(f"MQTT round trip p50 is {mqtt_p50:.0f} ms")
    echo(
        f"thresholds: decode 1280x720 with a code <= {thresholds.decode_ms:g} ms, "
        f"scan-to-verdict p99 <= {thresholds.verdict_p99_ms:g} ms, "
        f"durable writes >= {thresholds.writes_per_s:g}/s, "
        f"MQTT round trip p50 <= {thresholds.mqtt_p50_ms:g} ms"
    )
    if shortfalls:
        echo(f"verdict: NOT fast enough for a gate: {'; '.join(shortfalls)}")
        return False
    echo("verdict: fast enough for a gate")
    return True
