"""A thin, truthful wrapper around paho-mqtt 2.x (MQTT 5) with its own network thread.

- `connected` is true only between a successful CONNACK and the next disconnect.
- `publish()` gives an asyncio future that completes when the broker's PUBACK arrives.
- One named thread per client runs a visible loop: connect, serve the socket until the
  connection ends, wait a jittered exponential backoff, connect again. Subscriptions are
  renewed on every connect, so a persistent session helps but is not relied on.
- paho's errors are translated into the small `MqttError` hierarchy below.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from gateway.core.errors import CheckpointError
from sync.backoff import Backoff

logger = logging.getLogger(__name__)

QOS = 1
# Callers keep only a window of messages in flight; a full queue means they lost count.
MAX_QUEUED = 1000
RECONNECT_MIN_S = 1.0
RECONNECT_MAX_S = 30.0
SELECT_TIMEOUT_S = 1.0  # keepalive checks run at least this often
STOP_GRACE_S = 2.0  # how long a clean DISCONNECT may take before the socket is shut


class MqttError(CheckpointError):
    """Base of the errors of the MQTT connection."""


class MqttSetupError(MqttError):
    """The connection cannot be set up (e.g. an unreadable CA or client certificate)."""


class NotConnectedError(MqttError):
    """There is no connection to the broker right now."""


class ConnectionLostError(MqttError):
    """The connection dropped before the broker acknowledged the message."""


class PublishRefusedError(MqttError):
    """The broker refused the message, or paho's outgoing queue is full."""


@dataclass(frozen=True, slots=True)
class Tls:
    """TLS files; with `ca` None the system's certificate authorities are trusted."""

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MqttSettings:
    """Where and how to connect; `max_inflight` caps QoS 1 messages awaiting a PUBACK."""

    host: str
    port: int = 1883
    keepalive_s: int = 30
    username: str | None = None
    password: str | None = None
    tls: Tls | None = None
    session_expiry_s: int = 3600
    max_inflight: int = 20
    reconnect_min_s: float = RECONNECT_MIN_S
    reconnect_max_s: float = RECONNECT_MAX_S


@dataclass(frozen=True, slots=True)
class Will:
    """The last will: published by the broker, retained at QoS 1, when the connection dies."""

    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes
    retain: bool


MessageHandler = Callable[[Message], None]
ConnectionListener = Callable[[bool], None]

# A publish in flight: its future and the loop that owns it, or None for fire-and-forget.
_Waiter = tuple[asyncio.Future[None], asyncio.AbstractEventLoop] | None


class MqttClient:
    """One MQTT 5 connection with a stable client id. Create, register handlers, `start()`."""

    def __init__(self, settings: MqttSettings, *, client_id: str, will: Will | None = None) -> None:
        if not client_id:
            raise MqttSetupError("a stable client id is needed for a persistent session")
        self._settings = settings
        self._client_id = client_id
        self._connected = False
        self._stopping = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._backoff = Backoff(settings.reconnect_min_s, settings.reconnect_max_s)
        self._warned_unreachable = False
        self._lock = threading.Lock()
        self._epoch = 0  # counts lost connections; guards waiters registered too late
        self._pending: dict[int, _Waiter] = {}
        self._early: dict[int, ReasonCode] = {}
        self._subscriptions: list[tuple[str, str, MessageHandler]] = []
        # Whether this connection's SUBSCRIBE of the filters known at connect has been taken;
        # a filter added after that must be sent by whoever adds it.
        self._subscribed_on_connect = False
        self._listeners: list[ConnectionListener] = []
        # Other threads wake the network thread through this pair (publish, stop).
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._paho = self._build_paho(will)

    def _build_paho(self, will: Will | None) -> paho.Client:
        client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self._client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        settings = self._settings
        if settings.username is not None:
            client.username_pw_set(settings.username, settings.password)
        if settings.tls is not None:
            client.tls_set_context(_tls_context(settings.tls))
        if will is not None:
            client.will_set(will.topic, will.payload, qos=QOS, retain=True)
        client.max_inflight_messages_set(settings.max_inflight)
        client.max_queued_messages_set(MAX_QUEUED)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        # Without a loop thread of its own, paho would write a packet from whichever thread
        # queued it, racing our network thread on the socket. With a write callback
        # registered it only queues the packet and calls us; every write happens in `_serve`.
        client.on_socket_register_write = lambda *_: self._wake()
        return client

    @property
    def connected(self) -> bool:
        """True only after a successful CONNACK, until the connection is lost or closed."""
        return self._connected

    def subscribe(self, topic_filter: str, handler: MessageHandler) -> None:
        """Subscribe at QoS 1 now (if connected) and on every connect.

        `handler` runs in the network thread: it must only hand the message on.
        """
        with self._lock:
            self._subscriptions.append((topic_filter, _matchable(topic_filter), handler))
            send_now = self._subscribed_on_connect
        if send_now:
            self._send_subscribe([topic_filter])

    def add_connection_listener(self, listener: ConnectionListener) -> None:
        """Call `listener(connected)` from the network thread on every connect and disconnect."""
        with self._lock:
            self._listeners.append(listener)

    def start(self) -> None:
        """Connect in the background; the network thread keeps reconnecting until `stop()`."""
        if self._thread is not None:
            return
        self._stopping = False
        self._stop.clear()
        self._backoff.reset()
        self._thread = threading.Thread(target=self._run, name=f"mqtt-{self._client_id}")
        self._thread.start()

    def stop(self) -> None:
        """Disconnect cleanly (the broker does not publish the will) and join the thread."""
        self._stopping = True
        self._stop.set()
        self._wake()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._set_connected(False)
        self._fail_pending()

    # -- the network thread ------------------------------------------------------------

    def _run(self) -> None:
        """Connect, serve the connection until it ends, back off, repeat; until `stop()`."""
        while not self._stop.is_set():
            try:
                if self._open():
                    self._serve()
            except Exception:
                # A bug in a callback must not end the connection for good: start over.
                logger.exception("the connection to %s failed; reconnecting", self._endpoint)
                self._set_connected(False)
                self._fail_pending()
            delay = self._backoff.next()
            logger.debug("reconnecting to %s in %.1f s", self._endpoint, delay)
            self._stop.wait(delay)

    def _open(self) -> bool:
        """Open the socket (TCP, then TLS) and send CONNECT; False if that failed."""
        settings = self._settings
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = settings.session_expiry_s
        try:
            self._paho.connect(
                settings.host,
                settings.port,
                keepalive=settings.keepalive_s,
                clean_start=False,
                properties=properties,
            )
        except (OSError, ValueError) as error:  # unreachable, refused, TLS handshake, bad host
            # Warn once per outage; the retries are only worth a debug line.
            log = logger.debug if self._warned_unreachable else logger.warning
            log("cannot reach broker %s: %s; retrying", self._endpoint, error)
            self._warned_unreachable = True
            return False
        return True

    def _serve(self) -> None:
        """Read, write and keep the connection alive until it ends.

        A successful CONNACK resets the backoff (in `_on_connect`). After `stop()` a DISCONNECT
        is sent; if it cannot be written in time (a dead peer), the socket is shut down.
        """
        sock = self._paho.socket()
        disconnect_by = 0.0
        while sock is not None and self._paho.socket() is sock:
            if self._stop.is_set():
                if not disconnect_by:
                    self._paho.disconnect()
                    disconnect_by = time.monotonic() + STOP_GRACE_S
                elif time.monotonic() > disconnect_by and isinstance(sock, socket.socket):
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
            # TLS may hold decrypted bytes that select() cannot see.
            buffered = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
            writers = [sock] if self._paho.want_write() else []
            readable, _, _ = select.select(
                [sock, self._wake_r], writers, [], 0.0 if buffered else SELECT_TIMEOUT_S
            )
            if self._wake_r in readable:
                with contextlib.suppress(BlockingIOError):
                    self._wake_r.recv(4096)
            steps: list[Callable[[], MQTTErrorCode]] = []
            if sock in readable or buffered:
                steps.append(self._paho.loop_read)
            if self._paho.want_write():
                steps.append(self._paho.loop_write)
            steps.append(self._paho.loop_misc)
            for step in steps:
                if step() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    return

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"\0")

    @property
    def _endpoint(self) -> str:
        return f"{self._settings.host}:{self._settings.port}"

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> asyncio.Future[None]:
        """Send at QoS 1 from the running event loop; the future completes on the broker's PUBACK.

        Raises `NotConnectedError` at once when there is no connection; the future fails with
        `ConnectionLostError` if the connection drops first, or `PublishRefusedError`.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._publish(topic, payload, retain, (future, loop))
        return future

    def send(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Send at QoS 1 from any thread without waiting for the PUBACK."""
        self._publish(topic, payload, retain, None)

    def _publish(self, topic: str, payload: bytes, retain: bool, waiter: _Waiter) -> None:
        if not self._connected:
            raise NotConnectedError(f"not connected to {self._endpoint}")
        epoch = self._epoch
        try:
            info = self._paho.publish(topic, payload, qos=QOS, retain=retain)
        except ValueError as error:
            raise PublishRefusedError(f"cannot publish on {topic!r}: {error}") from None
        self._wake()
        if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
            raise PublishRefusedError("the outgoing message queue is full")
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise NotConnectedError(f"publish failed: {paho.error_string(info.rc)}")
        # on_publish runs in the network thread, possibly before publish() has even
        # returned the mid to us (the PUBACK can be read while this thread is descheduled). So
        # on_publish files acks for unknown mids in `_early`, and here we check `_early` under
        # the same lock before registering: whichever side comes second settles the waiter.
        # paho holds its own message lock while it calls on_publish, so we must not call into
        # paho while holding `_lock`. If the connection was lost meanwhile, nothing would ever
        # settle the waiter, so it fails now.
        with self._lock:
            reason = self._early.pop(info.mid, None)
            lost = reason is None and self._epoch != epoch
            if reason is None and not lost:
                self._pending[info.mid] = waiter
        if reason is not None:
            _settle(waiter, reason)
        elif lost and waiter is not None:
            _resolve(waiter[1], waiter[0], ConnectionLostError("connection lost before PUBACK"))

    def _on_connect(
        self,
        _client: paho.Client,
        _userdata: Any,
        flags: paho.ConnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            logger.warning("broker %s refused the connection: %s", self._endpoint, reason_code)
            return
        # Messages paho kept from the lost connection would be resent with mids nobody waits
        # for; our callers resend from their own durable state instead.
        self._paho.drop_out_messages()
        with self._lock:
            self._early.clear()
            filters = [topic_filter for topic_filter, _, _ in self._subscriptions]
            self._subscribed_on_connect = True
        if filters:
            self._send_subscribe(filters)
        logger.info(
            "connected to %s as %s (session present: %s)",
            self._endpoint,
            self._client_id,
            flags.session_present,
        )
        self._warned_unreachable = False
        self._backoff.reset()
        self._set_connected(True)

    def _on_disconnect(
        self,
        _client: paho.Client,
        _userdata: Any,
        _flags: paho.DisconnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if self._connected and not self._stopping:
            logger.warning("disconnected from %s: %s", self._endpoint, reason_code)
        with self._lock:
            self._subscribed_on_connect = False
        self._set_connected(False)
        self._fail_pending()

    def _on_publish(
        self,
        _client: paho.Client,
        _userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        with self._lock:
            if mid not in self._pending:
                self._early[mid] = reason_code
                return
            waiter = self._pending.pop(mid)
        _settle(waiter, reason_code)

    def _on_subscribe(
        self,
        _client: paho.Client,
        _userdata: Any,
        _mid: int,
        reason_codes: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        refused = [str(code) for code in reason_codes if code.is_failure]
        if refused:
            logger.warning("broker refused a subscription: %s", ", ".join(refused))

    def _on_message(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:
            logger.warning("dropped a message whose topic is not UTF-8")
            return
        received = Message(topic=topic, payload=bytes(message.payload), retain=message.retain)
        with self._lock:
            handlers = [h for _, f, h in self._subscriptions if paho.topic_matches_sub(f, topic)]
        for handler in handlers:
            try:
                handler(received)
            except Exception:
                # An exception would end the network thread; keep the connection alive.
                logger.exception("message handler failed for %s", topic)

    def _send_subscribe(self, filters: list[str]) -> None:
        result, _mid = self._paho.subscribe([(f, SubscribeOptions(qos=QOS)) for f in filters])
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS:
            logger.warning("cannot subscribe now (%s)", paho.error_string(result))
        self._wake()

    def _set_connected(self, connected: bool) -> None:
        changed = connected != self._connected
        self._connected = connected
        if not changed:
            return
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(connected)
            except Exception:
                logger.exception("connection listener failed")

    def _fail_pending(self) -> None:
        with self._lock:
            self._epoch += 1
            waiters = list(self._pending.values())
            self._pending.clear()
        for waiter in waiters:
            if waiter is not None:
                future, loop = waiter
                _resolve(loop, future, ConnectionLostError("connection lost before PUBACK"))


def _settle(waiter: _Waiter, reason_code: ReasonCode) -> None:
    if waiter is None:
        if reason_code.is_failure:
            logger.warning("broker refused a message: %s", reason_code)
        return
    future, loop = waiter
    error = (
        PublishRefusedError(f"broker refused: {reason_code}") if reason_code.is_failure else None
    )
    _resolve(loop, future, error)


def _resolve(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[None], error: Exception | None
) -> None:
    def apply() -> None:
        if future.done():
            return
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)

    try:
        loop.call_soon_threadsafe(apply)
    except RuntimeError:
        # The loop is closed: nobody is waiting any more.
        logger.debug("dropped a publish result for a closed event loop")


def _matchable(topic_filter: str) -> str:
    # A shared subscription "$share/<group>/<filter>" delivers topics matching <filter>.
    if topic_filter.startswith("$share/"):
        parts = topic_filter.split("/", 2)
        if len(parts) == 3:
            return parts[2]
    return topic_filter


def _tls_context(tls: Tls) -> ssl.SSLContext:
    if tls.key is not None and tls.cert is None:
        raise MqttSetupError("a TLS key was given without its client certificate")
    try:
        context = ssl.create_default_context(cafile=str(tls.ca) if tls.ca else None)
        if tls.cert is not None:
            context.load_cert_chain(str(tls.cert), str(tls.key) if tls.key else None)
    except (OSError, ssl.SSLError) as error:
        raise MqttSetupError(f"cannot load the TLS files: {error}") from None
    return context
