"""Doctor checks of the scanners and the thermal source: through the same device code the
service runs, or as the running service reports them."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Protocol, TypeVar

from gateway.config import Settings
from gateway.core.ports import ScanSource, ThermalSource
from gateway.core.values import DeviceHealth, DeviceState
from gateway.operations.doctor.findings import Finding, Status
from gateway.wiring.devices import UnsupportedDevice, devices_from_settings

# Enough readings to tell a plausible source from a noisy one.
THERMAL_READINGS = 3


def check_devices(settings: Settings, *, timeout_s: float) -> list[Finding]:
    """Each configured device: as the running service reports it, or tried out directly.

    A running service holds the cameras, and a second reader of a serial port would take
    scans away from it: while it runs, the devices are left alone.
    """
    service = _running_service(settings)
    if service is not None:
        return service
    try:
        devices = devices_from_settings(settings)
    except UnsupportedDevice as exc:
        return [
            Finding(
                "devices",
                Status.FAIL,
                str(exc),
                "'checkpoint run' refuses this config: use a supported kind",
            )
        ]
    policy = settings.policy
    findings = [check_scanner(source, timeout_s=timeout_s) for source in devices.scanners]
    findings += [
        check_thermal(
            source,
            plausible=(policy.min_plausible_c, policy.max_plausible_c),
            timeout_s=timeout_s,
        )
        for source in devices.thermals
    ]
    if not devices.thermals:
        findings.append(_no_thermal(settings))
    if not devices.scanners:
        findings.append(
            Finding(
                "scanners",
                Status.WARN,
                "no [[scanners]] configured: people can only be measured, not identified",
                "add a [[scanners]] table for each scanner or camera",
            )
        )
    return findings


def check_scanner(source: ScanSource, *, timeout_s: float) -> Finding:
    """Run the scanner for up to `timeout_s`: it must come up; a code shown to it is read."""
    health, scans = _exercise(source, timeout_s, enough=1)
    check = f"scanner {source.name} ({health.kind})"
    if health.state is not DeviceState.UP:
        return Finding(check, Status.FAIL, health.reason or "not working", _device_advice(health))
    if scans:
        return Finding(check, Status.PASS, "working; a code was read during the check")
    if health.kind == "camera":
        return Finding(
            check,
            Status.WARN,
            f"frames arrive, but no QR code was read within {timeout_s:g} s",
            "hold the test card (a pass printed with 'checkpoint issue-pass') 20-40 cm in "
            "front of the camera during the check; check focus and lighting",
        )
    return Finding(
        check, Status.PASS, "ready (scan the test card during the check to test reading too)"
    )


def check_thermal(
    source: ThermalSource, *, plausible: tuple[float, float], timeout_s: float
) -> Finding:
    """Run the thermal source for up to `timeout_s`: readings arrive, in the plausible range."""
    health, readings = _exercise(source, timeout_s, enough=THERMAL_READINGS)
    check = f"thermal {source.name} ({health.kind})"
    low, high = plausible
    if readings:
        values = [reading.celsius for reading in readings]
        shown = ", ".join(f"{value:.1f}" for value in values)
        if all(low <= value <= high for value in values):
            return Finding(check, Status.PASS, f"readings arrive: {shown} °C")
        return Finding(
            check,
            Status.WARN,
            f"readings outside the plausible {low:g}-{high:g} °C: {shown} °C",
            "check the distance to the face, thermal.offset_c and the blackbody reference; "
            "a reading is only plausible while a person stands in front of the sensor",
        )
    if health.state is not DeviceState.UP:
        return Finding(check, Status.FAIL, health.reason or "not working", _device_advice(health))
    return Finding(
        check,
        Status.WARN,
        f"up, but no reading within {timeout_s:g} s",
        "stand in front of the thermal sensor during the check",
    )


def _no_thermal(settings: Settings) -> Finding:
    rule = settings.policy.no_thermal.value
    detail = f"no thermal source (thermal.kind = none): policy.no_thermal = {rule} applies"
    if rule == "refer":
        return Finding(
            "thermal",
            Status.WARN,
            detail + " to every passage",
            "configure [thermal], or set policy.no_thermal = 'admit' if this gate does not "
            "measure temperatures",
        )
    return Finding("thermal", Status.PASS, detail)


T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class _Source(Protocol[T_co]):
    name: str

    def run(self, emit: Callable[[T_co], None], stop: threading.Event) -> None: ...

    def health(self) -> DeviceHealth: ...


def _exercise(source: _Source[T], timeout_s: float, *, enough: int) -> tuple[DeviceHealth, list[T]]:
    """Run a source in its own thread until it emitted `enough` values or time is up.

    Returns its health as it was before stopping (afterwards every source says "stopped").
    """
    values: list[T] = []
    lock = threading.Lock()
    done = threading.Event()
    stop = threading.Event()

    def emit(value: T) -> None:
        with lock:
            values.append(value)
            if len(values) >= enough:
                done.set()

    thread = threading.Thread(
        target=source.run, args=(emit, stop), name=f"doctor-{source.name}", daemon=True
    )
    thread.start()
    done.wait(timeout_s)
    health = source.health()
    stop.set()
    thread.join(timeout_s)
    with lock:
        return health, list(values)


def _device_advice(health: DeviceHealth) -> str:
    advice = {
        "serial": "plug the device in and check 'ls -l /dev/checkpoint-* /dev/ttyACM* "
        "/dev/ttyUSB*'; the udev rules give it a stable name; the service user needs the "
        "dialout group",
        "keyboard": "check 'ls -l /dev/input/by-id/ /dev/checkpoint-*'; the service user "
        "needs the input group; another program may hold the device",
        "camera": "check 'ls -l /dev/video*' and the cable; only one program can use a camera "
        "at a time (stop the service: systemctl stop checkpoint-gateway)",
    }
    return advice.get(
        health.kind,
        "check the cable, 'ls -l /dev/checkpoint-*' and the device setting in the config",
    )


def _running_service(settings: Settings) -> list[Finding] | None:
    """Findings about the devices from the running service; None when it does not run."""
    where = f"http://{settings.web.listen}"
    try:
        with urllib.request.urlopen(f"{where}/api/status", timeout=2) as response:
            document = json.load(response)
    except urllib.error.HTTPError:
        # Something answers on the service's port but wants a sign-in for its status.
        return [
            Finding(
                "service",
                Status.WARN,
                f"running at {where}; its device states need a sign-in, so the devices were "
                "not checked (the service is using them)",
                f"see the device states on the technician page at {where}, or stop the "
                "service (systemctl stop checkpoint-gateway) and run the doctor again",
            )
        ]
    except (urllib.error.URLError, OSError, ValueError):
        return None
    if (document.get("site"), document.get("gate")) != (settings.gate.site, settings.gate.id):
        return None
    return [
        Finding("service", Status.PASS, f"running at {where}; devices as it reports them"),
        *(_reported_device(device) for device in document.get("devices", [])),
    ]


def _reported_device(device: dict[str, str]) -> Finding:
    health = DeviceHealth(
        device["name"], device["kind"], DeviceState(device["state"]), device["reason"]
    )
    check = f"device {health.name} ({health.kind})"
    if health.state is DeviceState.UP:
        return Finding(check, Status.PASS, "up (as reported by the running service)")
    return Finding(
        check,
        Status.FAIL,
        f"{health.state.value} (as reported by the running service): {health.reason}",
        _device_advice(health),
    )
