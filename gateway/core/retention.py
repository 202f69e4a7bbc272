"""Retention and disk-space rules as pure functions."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

DISK_WARN_FRACTION = 0.80
DISK_CRITICAL_FRACTION = 0.95


def purge_cutoff(now: datetime, retention_days: int) -> datetime:
    """Synced entries that occurred before this instant may be purged."""
    return now - timedelta(days=retention_days)


class DiskLevel(StrEnum):
    OK = "ok"
    WARN = "warn"
    CRITICAL = "critical"


def disk_level(used_bytes: int, total_bytes: int) -> DiskLevel:
    """Warn at 80 % used, critical at 95 %."""
    if total_bytes <= 0:
        return DiskLevel.CRITICAL
    fraction = used_bytes / total_bytes
    if fraction >= DISK_CRITICAL_FRACTION:
        return DiskLevel.CRITICAL
    if fraction >= DISK_WARN_FRACTION:
        return DiskLevel.WARN
    return DiskLevel.OK
