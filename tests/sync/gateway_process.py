"""A gateway publisher in a process of its own, to be killed in last-will tests.

Usage: python -m tests.sync.gateway_process PORT DATABASE
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from gateway.storage.store import EntryStore
from sync.mqtt import MqttSettings
from sync.publisher import Publisher, gateway_client
from sync.topics import Topics
from tests.sync.conftest import GATE, PREFIX, SITE


def main(port: int, database: Path) -> None:
    topics = Topics(prefix=PREFIX, site=SITE, gate=GATE)
    client = gateway_client(MqttSettings(host="127.0.0.1", port=port), topics)
    publisher = Publisher(EntryStore.open(database), client, topics, version="test")
    client.start()
    asyncio.run(publisher.run(asyncio.Event()))


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))
