"""Doctor checks of this computer: disk space, the database, clock synchronisation."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Protocol

from gateway.core.errors import StorageError
from gateway.core.retention import DiskLevel, disk_level
from gateway.operations.doctor.findings import Finding, Status
from gateway.storage.lifecycle import check_file
from gateway.storage.migrate import revisions


def disk_status(used_bytes: int, total_bytes: int) -> Status:
    """pass below 80 % used, warn from 80 %, fail from 95 % (the service's own alarms)."""
    return {
        DiskLevel.OK: Status.PASS,
        DiskLevel.WARN: Status.WARN,
        DiskLevel.CRITICAL: Status.FAIL,
    }[disk_level(used_bytes, total_bytes)]


def check_disk(database: Path) -> Finding:
    """Space on the file system that holds (or will hold) the database."""
    directory = database.parent
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    usage = shutil.disk_usage(directory)
    status = disk_status(usage.used, usage.total)
    detail = (
        f"{usage.used / usage.total:.0%} used on the file system of {directory} "
        f"({usage.free / 1e9:.1f} GB free)"
    )
    return Finding(
        "disk",
        status,
        detail,
        "free space: unsynced entries are never deleted, so bring the collector back online "
        "first; then lower storage.retention_days or remove old backups and logs "
        "(journalctl --vacuum-size=100M)",
    )


def check_database(database: Path) -> Finding:
    """The database file: readable, intact (quick_check), schema of this version."""
    if not database.exists():
        return Finding(
            "database", Status.PASS, f"{database} does not exist yet; the service creates it"
        )
    try:
        found = check_file(database)
    except StorageError as exc:
        return _database_problem(database, str(exc))
    if found.problems != ["ok"]:
        return _database_problem(database, "; ".join(found.problems[:5]))
    current = found.schema
    known = revisions()
    if current is None:
        return Finding(
            "database", Status.WARN, f"{database} has no schema yet; the service creates it"
        )
    if current not in known:
        return Finding(
            "database",
            Status.FAIL,
            f"{database} was written by a newer checkpoint-gateway (schema {current})",
            "install that version again, or restore a backup made by this version",
        )
    if current != known[-1]:
        return Finding(
            "database",
            Status.WARN,
            f"intact; schema {current} is upgraded to {known[-1]} at the next start",
            "take a backup first ('checkpoint backup'), then restart the service",
        )
    return Finding("database", Status.PASS, f"intact, schema {current} is current")


def _database_problem(database: Path, problem: str) -> Finding:
    if "unable to open" in problem:
        return Finding(
            "database",
            Status.FAIL,
            f"cannot open {database}: {problem}",
            "run the doctor as root or as the service user (sudo -u checkpoint checkpoint doctor)",
        )
    return Finding(
        "database",
        Status.FAIL,
        f"{database} is damaged: {problem}",
        "restart the service: it keeps the damaged file aside, starts a new database and "
        "re-records what can still be read; or restore the latest backup",
    )


class _Synchronised(Protocol):
    def synchronised(self) -> bool: ...


def check_clock(clock: _Synchronised) -> Finding:
    if clock.synchronised():
        return Finding("clock", Status.PASS, "synchronised (NTP)")
    return Finding(
        "clock",
        Status.WARN,
        "not synchronised: entries are recorded with clock_synced = false",
        "enable time synchronisation ('timedatectl set-ntp true', or chrony) and check "
        "'timedatectl timesync-status'; NTP needs UDP port 123 to a time server",
    )
