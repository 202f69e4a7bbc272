"""A stand-in collector in a process of its own: acknowledges every entries batch of one gate
as soon as it arrives and stores nothing, so a benchmark measures the gateway's side alone.

    python -m harness.instant_acker PORT ENTRIES_TOPIC ACK_TOPIC READY_FILE

It reads only the ids and revisions of each batch, and writes READY_FILE once subscribed.
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from typing import Any

import msgspec
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from sync.wire import encode_ack


class _Acked(msgspec.Struct):
    id: str
    revision: int = 0


class _AckedBatch(msgspec.Struct):
    entries: list[_Acked]


_READ_IDS = msgspec.json.Decoder(_AckedBatch)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("entries_topic")
    parser.add_argument("ack_topic")
    parser.add_argument("ready", type=Path)
    args = parser.parse_args()

    def on_batch(client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        entries = _READ_IDS.decode(message.payload).entries
        ack = encode_ack([e.id for e in entries], [e.revision for e in entries])
        client.publish(args.ack_topic, ack, qos=1)

    client = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id="instant-acker",
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    client.max_queued_messages_set(0)
    client.on_message = on_batch
    client.on_connect = lambda c, *_: c.subscribe(args.entries_topic, qos=1)
    client.on_subscribe = lambda *_: args.ready.write_text("subscribed")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    client.connect("127.0.0.1", args.port)
    client.loop_start()
    stop.wait()
    client.disconnect()
    client.loop_stop()


if __name__ == "__main__":
    main()
