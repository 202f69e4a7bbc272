"""A plain paho client that records what the broker delivers, for asserting on real traffic."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion


@dataclass(frozen=True)
class Captured:
    topic: str
    payload: bytes
    retain: bool


class Capture:
    """Subscribes to topic filters on a broker and keeps every message it receives."""

    def __init__(self, port: int, *filters: str) -> None:
        self.messages: list[Captured] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._filters = filters
        self._client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5
        )
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("the capture client could not subscribe")

    def _on_connect(self, client: paho.Client, *_: Any) -> None:
        client.subscribe([(f, 1) for f in self._filters])

    def _on_subscribe(self, *_: Any) -> None:
        self._subscribed.set()

    def _on_message(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(Captured(message.topic, bytes(message.payload), message.retain))

    def on(self, topic: str) -> list[Captured]:
        with self._lock:
            return [m for m in self.messages if m.topic == topic]

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self._client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
