"""From the config's `[[scanners]]` and `[thermal]` sections to device sources.

Every combination the config allows but no device can honour (a camera option on a serial
scanner, a spot thermometer without its protocol) is a `ValueError` naming the key. An
option is taken as given when it differs from its default. Cameras and thermal cameras are
built by `imaging`, imported only when one is configured: a gate without one never loads
OpenCV, numpy or zxing-cpp. Likewise only a keyboard-wedge scanner loads evdev.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from devices.serial_scanner import SerialScanner
from devices.spot_thermometer import SpotThermometer
from gateway.config import ScannerConfig, Settings, ThermalConfig
from gateway.core.ports import ScanSource, ThermalSource

THERMAL_NAME = "thermal"
SPOT_BAUDRATE = 9600

_CAMERA_ONLY = ("decoder", "fps", "roi", "dedupe_s")
_FRAME_ONLY = ("emissivity", "reference_box", "reference_c", "frames_per_reading", "warmup_s")
_ONLY_FOR: dict[str, tuple[str, ...]] = {
    "baudrate": ("mlx90640-serial", "spot-serial"),
    "protocol": ("spot-serial",),
    "samples": ("spot-serial",),
    "url": ("http-matrix",),
    "username": ("http-matrix",),
    "password": ("http-matrix",),
    **{key: ("uvc-y16", "mlx90640-serial", "http-matrix") for key in _FRAME_ONLY},
}


@dataclass(frozen=True)
class Devices:
    scanners: Sequence[ScanSource] = field(default_factory=list)
    thermals: Sequence[ThermalSource] = field(default_factory=list)


class UnsupportedDevice(Exception):
    """A device configuration that cannot work (the message names the key)."""


def devices_from_settings(
    settings: Settings, *, observe_decode: Callable[[float], None] = lambda seconds: None
) -> Devices:
    """The scanners and thermal source the config file names."""
    try:
        scanners = [
            scanner_from_config(i, c, observe_decode=observe_decode)
            for i, c in enumerate(settings.scanners)
        ]
        thermal = thermal_from_config(settings.thermal)
    except ValueError as exc:
        raise UnsupportedDevice(str(exc)) from None
    return Devices(scanners=scanners, thermals=[thermal] if thermal else [])


def scanner_from_config(
    index: int,
    config: ScannerConfig,
    *,
    observe_decode: Callable[[float], None] = lambda seconds: None,
) -> ScanSource:
    """The scanner of `[[scanners]]` number `index` (0-based), named `scanner-<index + 1>`.

    `observe_decode` hears how long each camera frame took to decode, in seconds.
    """
    where = f"scanners[{index}]"
    name = f"scanner-{index + 1}"
    _only(where, config, _CAMERA_ONLY, config.kind == "camera", "camera scanners")
    _only(where, config, ("baudrate",), config.kind == "serial", "serial scanners")
    if config.kind == "camera":
        from gateway.wiring import imaging  # OpenCV and numpy: only for a camera

        return imaging.camera_scanner(where, name, config, observe_decode)
    if config.kind == "serial":
        return SerialScanner(
            name,
            config.device,
            baudrate=config.baudrate,
            lane=config.lane,
            direction=config.direction,
        )
    if config.kind == "keyboard":
        from devices.keyboard import KeyboardScanner  # evdev: only for a keyboard wedge

        return KeyboardScanner(name, config.device, lane=config.lane, direction=config.direction)
    from gateway.wiring import imaging  # a simulated scanner draws its codes

    return imaging.simulated_scanner(where, config)


def thermal_from_config(config: ThermalConfig) -> ThermalSource | None:
    """The temperature source of `[thermal]`, named `thermal`; None for kind "none"."""
    for key, kinds in _ONLY_FOR.items():
        if _customised(config, key) and config.kind not in kinds:
            raise ValueError(f"thermal.{key} applies to kind {' or '.join(kinds)} only")
    if config.kind == "none":
        return None
    if config.kind == "simulated":
        from gateway.wiring import imaging  # a simulated thermal source draws its frames

        return imaging.simulated_thermal(THERMAL_NAME)
    if config.kind == "spot-serial":
        if config.protocol is None:
            raise ValueError("thermal.protocol is needed for spot-serial: 'ascii' or 'binary'")
        return SpotThermometer(
            THERMAL_NAME,
            _device(config),
            dialect=config.protocol,
            baudrate=config.baudrate or SPOT_BAUDRATE,
            samples=config.samples,
            offset_c=config.offset_c,
        )
    from gateway.wiring import imaging  # OpenCV and numpy: only for a thermal camera

    return imaging.thermal_camera(THERMAL_NAME, config, _device)


def _device(config: ThermalConfig) -> str:
    if not config.device:
        raise ValueError(f"thermal.device is needed for {config.kind}")
    return config.device


def _only(
    where: str, config: ScannerConfig, keys: tuple[str, ...], allowed: bool, what: str
) -> None:
    given = [key for key in keys if _customised(config, key)]
    if given and not allowed:
        raise ValueError(f"{where}.{given[0]} applies to {what} only, not kind {config.kind!r}")


def _customised(config: ScannerConfig | ThermalConfig, key: str) -> bool:
    """Whether `key` differs from its default. (Which keys the file named is not known:
    the settings sources pass defaults on explicitly.)"""
    return bool(getattr(config, key) != type(config).model_fields[key].default)
