"""Benchmark: scan-to-verdict latency and durable entries per second on this computer.

    .venv/bin/python -m benchmarks.scan_to_verdict [--scans 300]

Latency is measured end to end through the real path: a pass is written to a pty as a serial
scanner would send it, `checkpoint run` (a separate process) reads, verifies, decides, commits
the entry (WAL, synchronous=FULL) and pushes the verdict; the clock stops when the verdict
arrives on the guard screen's event stream. Durable writes are one committed transaction each.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from gateway.codes.community_pass import issue_pass
from gateway.codes.cose import Algorithm
from gateway.codes.keys import KeyDirectory
from gateway.core.values import CodeCheck, CodeStatus, Decision, Direction, NewEntry
from gateway.storage.store import EntryStore


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measure_latency(workdir: Path, scans: int) -> list[float]:
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
    arrived: dict[str, float] = {}
    received = threading.Condition()
    try:
        _wait_serving(port)

        def listen() -> None:
            with httpx.stream("GET", f"http://127.0.0.1:{port}/api/events", timeout=None) as r:
                for line in r.iter_lines():
                    if line.startswith("data:"):
                        event = json.loads(line[5:])
                        with received:
                            arrived[event["id"]] = time.perf_counter()
                            received.notify()

        threading.Thread(target=listen, daemon=True).start()
        time.sleep(0.5)
        latencies = []
        for payload in passes:
            before = len(arrived)
            sent = time.perf_counter()
            os.write(master, payload + b"\r")
            with received:
                if not received.wait_for(lambda n=before: len(arrived) > n, timeout=5):
                    raise RuntimeError("no verdict within 5 s")
                latest = max(arrived.values())
            latencies.append((latest - sent) * 1000)
            time.sleep(0.01)
        return latencies
    finally:
        process.terminate()
        process.wait(timeout=10)
        os.close(master)
        os.close(slave)


def _wait_serving(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("gateway did not start")


def measure_durable_writes(workdir: Path, count: int) -> float:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=int, default=300)
    parser.add_argument("--writes", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="checkpoint-bench-") as tmp:
        latencies = measure_latency(Path(tmp), args.scans)
        rate = measure_durable_writes(Path(tmp), args.writes)
    print(f"scan-to-verdict over {len(latencies)} scans (serial pty → committed → pushed):")
    median, p99 = statistics.median(latencies), percentile(latencies, 0.99)
    print(f"  median {median:.1f} ms   p99 {p99:.1f} ms   max {max(latencies):.1f} ms")
    print("  (target: p99 under 50 ms on 2 cores)")
    print(f"durable entries: {rate:,.0f} per second (one fsynced transaction each)")


if __name__ == "__main__":
    main()
