"""The systemd units, sysusers file and udev rules: accepted by systemd's own tools."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SYSTEMD = Path(__file__).resolve().parents[2] / "systemd"
UNITS = ("checkpoint-gateway.service", "checkpoint-collector.service")
# systemd-analyze security rates exposure 0-100 (shown as 0.0-10.0); both units are near 2.
EXPOSURE_LIMIT = 30


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (the systemd package provides it)")
    return found


def _settings(unit: Path) -> dict[str, list[str]]:
    """Every Key=Value of a unit file (keys may repeat, e.g. DeviceAllow)."""
    found: dict[str, list[str]] = {}
    for line in unit.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


def _runnable_copy(unit: str, directory: Path) -> Path:
    # verify fails when the ExecStart binary does not exist, and /opt/checkpoint/venv only
    # exists after an install: check a copy whose ExecStart names this Python instead.
    text = (SYSTEMD / unit).read_text(encoding="utf-8")
    copy = directory / unit
    copy.write_text(text.replace("/opt/checkpoint/venv/bin/checkpoint", sys.executable))
    return copy


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_analyze_verify_accepts_the_unit(unit: str, tmp_path: Path) -> None:
    analyze = _binary("systemd-analyze")
    result = subprocess.run(
        [analyze, "verify", str(_runnable_copy(unit, tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # verify exits 0 on unknown keys and bad values too; it only warns about them.
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""


@pytest.mark.parametrize("unit", UNITS)
def test_units_are_hardened(unit: str, tmp_path: Path) -> None:
    analyze = _binary("systemd-analyze")
    result = subprocess.run(
        [
            analyze,
            "security",
            "--offline=true",
            f"--threshold={EXPOSURE_LIMIT}",
            str(_runnable_copy(unit, tmp_path)),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout[-2000:]
    settings = _settings(SYSTEMD / unit)
    for key, value in {
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "DevicePolicy": "closed",
        "User": "checkpoint",
        "StateDirectory": "checkpoint",
        "ConfigurationDirectory": "checkpoint",
        "Restart": "always",
    }.items():
        assert settings.get(key) == [value], key
    assert "checkpoint.mqtt-password" in settings["LoadCredential"]
    assert settings["SystemCallFilter"][0].startswith("@system-service")


def test_gateway_unit_reports_readiness_and_is_watched() -> None:
    settings = _settings(SYSTEMD / "checkpoint-gateway.service")
    assert settings["Type"] == ["notify"]
    assert settings["NotifyAccess"] == ["main"]
    assert settings["WatchdogSec"] == ["30"]
    assert set(settings["SupplementaryGroups"][0].split()) == {"dialout", "video", "input"}
    # The clock check reads the kernel's NTP state; the devices a gate uses stay reachable.
    assert "adjtimex" in settings["SystemCallFilter"][0].split()
    assert "ProtectClock" not in settings
    allowed = {value.split()[0] for value in settings["DeviceAllow"]}
    assert {"char-ttyACM", "char-ttyUSB", "char-video4linux", "char-input"} <= allowed


def test_collector_unit_has_no_devices() -> None:
    settings = _settings(SYSTEMD / "checkpoint-collector.service")
    assert settings["PrivateDevices"] == ["yes"]
    assert "DeviceAllow" not in settings
    assert "SupplementaryGroups" not in settings


def test_sysusers_file_creates_the_service_user(tmp_path: Path) -> None:
    sysusers = _binary("systemd-sysusers")
    (tmp_path / "etc").mkdir()
    subprocess.run(
        [sysusers, f"--root={tmp_path}", str(SYSTEMD / "checkpoint.sysusers")],
        check=True,
        capture_output=True,
        timeout=60,
    )
    users = {
        line.split(":")[0]: line.split(":")
        for line in (tmp_path / "etc" / "passwd").read_text().splitlines()
    }
    assert users["checkpoint"][5] == "/var/lib/checkpoint"
    assert users["checkpoint"][6].endswith("nologin")
    members = {
        line.split(":")[0]: line.split(":")[3].split(",")
        for line in (tmp_path / "etc" / "group").read_text().splitlines()
    }
    for group in ("dialout", "video", "input"):
        assert "checkpoint" in members[group], group


# The keys our udev rules use: a typo (e.g. ATTRS{idvendor}) would silently match nothing.
UDEV_KEY = re.compile(
    r"^(SUBSYSTEM|KERNEL|ATTRS\{idVendor\}|ATTRS\{idProduct\}|ATTR\{index\}|SYMLINK|GROUP|MODE"
    r'|ENV\{ID_MM_DEVICE_IGNORE\})(==|\+=|=)"[^"]*"$'
)


def _rules() -> list[dict[str, str]]:
    rules = []
    for line in (SYSTEMD / "99-checkpoint.rules").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        pairs = [pair.strip() for pair in line.split(", ")]
        for pair in pairs:
            assert UDEV_KEY.match(pair), f"unexpected udev key in: {line}"
        rules.append({re.split(r"==|\+=|=", p)[0]: p.split('"')[1] for p in pairs})
    return rules


def test_udev_rules_name_scanner_and_thermal_devices() -> None:
    rules = _rules()
    for rule in rules:
        assert re.fullmatch(r"[0-9a-f]{4}", rule["ATTRS{idVendor}"])
        assert re.fullmatch(r"[0-9a-f]{4}", rule.get("ATTRS{idProduct}", "0000"))
        assert rule["SYMLINK"].startswith("checkpoint-")
    names = {
        (rule["SUBSYSTEM"], rule["ATTRS{idVendor}"], rule.get("ATTRS{idProduct}")): rule["SYMLINK"]
        for rule in rules
    }
    assert names[("video4linux", "1e4e", "0100")] == "checkpoint-thermal"
    assert names[("tty", "1a86", "7523")] == "checkpoint-thermal"
    assert names[("tty", "0403", "6001")] == "checkpoint-thermal"
    for vendor in ("0c2e", "05e0", "1eab"):  # Honeywell, Zebra, Newland
        assert names[("tty", vendor, None)] == "checkpoint-scanner"
        assert names[("input", vendor, None)] == "checkpoint-scanner-keyboard"
    text = (SYSTEMD / "99-checkpoint.rules").read_text(encoding="utf-8")
    assert "udevadm info --attribute-walk" in text
