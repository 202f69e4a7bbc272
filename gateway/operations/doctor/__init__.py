"""`checkpoint doctor`: is this gate computer ready? One finding per part, with what to do.

Checks the config, every scanner and the thermal source (through the same device code the
service runs, or as the running service reports them), disk space, the database, clock
synchronisation, the broker (reachability, TLS, MQTT session) and the collector's ack.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from gateway.config import Settings, load_settings
from gateway.core.errors import ConfigError
from gateway.operations.doctor.broker import check_sync
from gateway.operations.doctor.devices import check_devices, check_scanner, check_thermal
from gateway.operations.doctor.findings import Finding, Status
from gateway.operations.doctor.host import check_clock, check_database, check_disk, disk_status
from gateway.runtime.clock import SystemClock
from gateway.web.services import DoctorCheck

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "Finding",
    "Status",
    "check_clock",
    "check_database",
    "check_devices",
    "check_disk",
    "check_scanner",
    "check_sync",
    "check_thermal",
    "disk_status",
    "exit_code",
    "page_checks",
    "render",
    "run_doctor",
    "to_json",
]

DEFAULT_TIMEOUT_S = 5.0


def run_doctor(config: Path, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> list[Finding]:
    """Every check, in the order a technician would fix things."""
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        return [
            Finding(
                "config",
                Status.FAIL,
                str(exc),
                f"fix the keys named above; 'checkpoint init --config {config}' writes a "
                "commented example",
            )
        ]
    findings = [Finding("config", Status.PASS, f"{config} is valid")]
    findings += check_devices(settings, timeout_s=timeout_s)
    findings.append(check_disk(settings.storage.path))
    findings.append(check_database(settings.storage.path))
    findings.append(check_clock(SystemClock()))
    findings += check_sync(settings, timeout_s=timeout_s)
    return findings


def exit_code(findings: Sequence[Finding]) -> int:
    """1 when any check failed, else 0 (warnings do not fail)."""
    return 1 if any(f.status is Status.FAIL for f in findings) else 0


def render(findings: Sequence[Finding]) -> str:
    """A table: status, check, detail, and below each problem what to do."""
    width = max(len(f.check) for f in findings)
    lines = [f"{'STATUS':<6}  {'CHECK':<{width}}  DETAIL"]
    for finding in findings:
        detail, *more = finding.detail.splitlines() or [""]
        lines.append(f"{finding.status.value:<6}  {finding.check:<{width}}  {detail}")
        lines += [f"{'':<6}  {'':<{width}}  {line}" for line in more]
        if finding.advice and finding.status is not Status.PASS:
            lines.append(f"{'':<6}  {'':<{width}}  -> {finding.advice}")
    counts = {status: sum(f.status is status for f in findings) for status in Status}
    warnings = counts[Status.WARN]
    lines.append(
        f"{counts[Status.FAIL]} failed, {warnings} warning{'' if warnings == 1 else 's'}, "
        f"{counts[Status.PASS]} passed"
    )
    return "\n".join(lines)


def to_json(findings: Sequence[Finding]) -> str:
    return json.dumps(
        {"ok": exit_code(findings) == 0, "findings": [asdict(f) for f in findings]},
        ensure_ascii=False,
        indent=2,
    )


def page_checks(settings: Settings, clock: SystemClock) -> list[DoctorCheck]:
    """`checkpoint doctor` without re-reading the config; devices as this service reports
    them. Short timeouts: a technician is waiting at the page."""
    findings = [
        *check_devices(settings, timeout_s=3.0),
        check_disk(settings.storage.path),
        check_database(settings.storage.path),
        check_clock(clock),
        *check_sync(settings, timeout_s=3.0),
    ]
    return [DoctorCheck(f.check, f.status.value, f.detail, f.advice) for f in findings]
