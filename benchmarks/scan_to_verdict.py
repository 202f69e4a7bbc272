"""Benchmark: scan-to-verdict latency and durable entries per second on this computer.

    .venv/bin/python -m benchmarks.scan_to_verdict [--scans 300]

Latency is measured end to end through the real path: a pass is written to a pty as a serial
scanner would send it, `checkpoint run` (a separate process) reads, verifies, decides, commits
the entry (WAL, synchronous=FULL) and pushes the verdict; the clock stops when the verdict
arrives on the guard screen's event stream. Durable writes are one committed transaction each.
The measuring code is `gateway.operations.bench`, which `checkpoint bench` runs too.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from gateway.operations.bench import measure_durable_writes, measure_latency, percentile


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
