"""A collector in a process of its own, to be killed by tests.

    python -m harness.collector_process URL PORT CLIENT_ID STATUS [--die-after-commit]

It writes how many batches and entries it has acknowledged to STATUS (JSON) every 0.1 s and
when it stops.
With --die-after-commit it SIGKILLs itself right after committing its first batch, before
the acknowledgement is sent: the worst moment for a collector to die.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
from pathlib import Path

from harness.sync import PREFIX
from sync.collector import Collector, collector_client
from sync.mqtt import MqttSettings


class DyingCollector(Collector):
    """Dies between the commit and the ack."""

    def _acknowledge(self, site: str, gate: str, ids: list[str], revisions: list[int]) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("port", type=int)
    parser.add_argument("client_id")
    parser.add_argument("status", type=Path)
    parser.add_argument("--die-after-commit", action="store_true")
    args = parser.parse_args()
    kind = DyingCollector if args.die_after_commit else Collector
    client = collector_client(
        MqttSettings(host="127.0.0.1", port=args.port), client_id=args.client_id
    )
    collector = kind(args.url, client, prefix=PREFIX)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    collector.start()
    try:
        while not stop.wait(0.1):
            _report(collector, args.status)
    finally:
        collector.stop()
        _report(collector, args.status)


def _report(collector: Collector, path: Path) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps({"batches": collector.batches, "entries": collector.entries}))
    os.replace(temporary, path)


if __name__ == "__main__":
    main()
