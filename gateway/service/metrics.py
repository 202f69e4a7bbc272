"""Prometheus metrics of one gateway, in their own registry (nothing global)."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from gateway.core.values import DeviceState, Entry
from gateway.service.status import GatewayStatus

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_DECODE_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)


class GatewayMetrics:
    """Counters fed as entries are recorded; gauges refreshed from the status at scrape time."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.entries = Counter(
            "checkpoint_entries", "Entries recorded, by decision", ["decision"], registry=r
        )
        self.scan_to_verdict = Histogram(
            "checkpoint_scan_to_verdict_seconds",
            "From the scan to the committed, announced verdict (re-measure waits included)",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.decode = Histogram(
            "checkpoint_decode_seconds",
            "Time to decode one camera frame",
            buckets=_DECODE_BUCKETS,
            registry=r,
        )
        self.backlog = Gauge(
            "checkpoint_backlog_entries", "Entries not yet acknowledged", registry=r
        )
        self.backlog_age = Gauge(
            "checkpoint_backlog_oldest_age_seconds", "Age of the oldest unsynced entry", registry=r
        )
        self.unrecorded = Gauge(
            "checkpoint_unrecorded_entries", "Entries waiting for a failed write", registry=r
        )
        self.mqtt_connected = Gauge(
            "checkpoint_mqtt_connected", "1 while connected to the broker", registry=r
        )
        self.device_up = Gauge(
            "checkpoint_device_up", "1 while a device is up", ["device", "kind"], registry=r
        )
        self.disk_free = Gauge(
            "checkpoint_disk_free_bytes", "Free space on the database's filesystem", registry=r
        )
        self.clock_synced = Gauge(
            "checkpoint_clock_synchronised", "1 while the clock is NTP-synchronised", registry=r
        )
        for decision in ("admit", "refer", "deny"):
            self.entries.labels(decision)  # present at zero from the start

    def recorded(self, entry: Entry, monotonic_now_ns: int) -> None:
        self.entries.labels(entry.decision.value).inc()
        self.scan_to_verdict.observe(max(0, monotonic_now_ns - entry.monotonic_ns) / 1e9)

    def refresh(self, status: GatewayStatus, now: datetime) -> None:
        self.backlog.set(status.backlog)
        age = (now - status.oldest_unsynced).total_seconds() if status.oldest_unsynced else 0.0
        self.backlog_age.set(max(age, 0.0))
        self.unrecorded.set(status.unrecorded)
        self.mqtt_connected.set(int(status.mqtt_connected))
        for device in status.devices:
            self.device_up.labels(device.name, device.kind).set(int(device.state is DeviceState.UP))
        self.disk_free.set(status.disk_free_bytes)
        self.clock_synced.set(int(status.clock_synced))

    def render(self) -> bytes:
        return generate_latest(self.registry)
